import Testing
@testable import TesseraDistributed

@Suite struct KVPlacementTests {
    static let placements: [KVPlacement] = [1, 2, 3, 4, 8].flatMap { cp in
        [1, 2, 3, 4, 16].map { KVPlacement(cp: cp, interleave: $0) }
    }

    /// Lengths around every edge: 0, below cp, multiples of cp and of a full round, and
    /// one either side of them.
    static func lengths(_ p: KVPlacement) -> [Int] {
        let round = p.cp * p.interleave
        var lengths = Set(0...(3 * round + 2))
        for k in [1, 2, 5, 7] {
            lengths.formUnion([k * p.cp - 1, k * p.cp, k * p.cp + 1, k * round - 1, k * round, k * round + 1])
        }
        return lengths.filter { $0 >= 0 }.sorted()
    }

    @Test(arguments: placements)
    func localLengthsMatchABruteForceCount(_ p: KVPlacement) {
        for length in Self.lengths(p) {
            var owned = [Int](repeating: 0, count: p.cp)
            for position in 0..<length { owned[p.owner(of: position)] += 1 }
            let formula = (0..<p.cp).map { p.localLength(of: length, rank: $0) }
            #expect(formula == owned, "cp=\(p.cp) I=\(p.interleave) L=\(length)")
            #expect(formula.reduce(0, +) == length)
        }
    }

    @Test(arguments: placements)
    func localIndicesAreABijectionOnEachRank(_ p: KVPlacement) {
        for length in Self.lengths(p) {
            var indices = [[Int]](repeating: [], count: p.cp)
            for position in 0..<length {
                let rank = p.owner(of: position)
                let local = p.localIndex(of: position)
                indices[rank].append(local)
                #expect(p.position(localIndex: local, rank: rank) == position)
            }
            for rank in 0..<p.cp {
                // In position order, a rank's tokens fill 0, 1, 2, ... densely.
                #expect(indices[rank] == Array(0..<p.localLength(of: length, rank: rank)),
                        "cp=\(p.cp) I=\(p.interleave) L=\(length) rank \(rank)")
            }
        }
    }

    @Test func edgeCasesOfDesignDoc() {
        let p = KVPlacement(cp: 4)
        #expect((0..<4).map { p.localLength(of: 0, rank: $0) } == [0, 0, 0, 0])
        #expect((0..<4).map { p.localLength(of: 2, rank: $0) } == [1, 1, 0, 0])
        // A multiple of cp: no phantom token on any rank.
        #expect((0..<4).map { p.localLength(of: 8, rank: $0) } == [2, 2, 2, 2])
        let interleaved = KVPlacement(cp: 2, interleave: 4)
        #expect((0..<12).map(interleaved.owner(of:)) == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])
        #expect((0..<12).map(interleaved.localIndex(of:)) == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7])
        #expect((0..<2).map { interleaved.localLength(of: 10, rank: $0) } == [6, 4])
    }

    /// Blocks a sequence needs: enough on every rank, and no more than needed.
    @Test(arguments: placements)
    func logicalBlockCountIsExact(_ p: KVPlacement) {
        for blockSize in [16, 32, 48].filter({ $0 % p.interleave == 0 }) {
            for length in Self.lengths(p) + [blockSize * p.cp - 1, blockSize * p.cp, blockSize * p.cp + 1, 5 * blockSize * p.cp] {
                let blocks = p.logicalBlocks(for: length, blockSize: blockSize)
                let longest = (0..<p.cp).map { p.localLength(of: length, rank: $0) }.max()!
                #expect(blocks == (longest + blockSize - 1) / blockSize, "cp=\(p.cp) I=\(p.interleave) bs=\(blockSize) L=\(length)")
                // Logical block j covers positions [j * bs * cp, (j+1) * bs * cp) on every rank.
                for position in Swift.stride(from: 0, to: length, by: max(1, length / 97)) {
                    #expect(p.localIndex(of: position) / blockSize == position / (blockSize * p.cp))
                }
            }
        }
    }

    @Test(arguments: placements)
    func slotsAreDistinctAndInsideTheTable(_ p: KVPlacement) {
        let blockSize = 16
        guard blockSize % p.interleave == 0 else { return }
        let length = 5 * blockSize * p.cp + 3
        let blocks = p.logicalBlocks(for: length, blockSize: blockSize)
        // Ids out of order, as an allocator hands them out.
        let table = (0..<blocks).map { (($0 * 7) % blocks) + 100 }
        var slots = [[Int]](repeating: [], count: p.cp)
        for position in 0..<length {
            let slot = p.slot(of: position, blockTable: table, blockSize: blockSize)
            #expect(table.contains(slot / blockSize))
            slots[p.owner(of: position)].append(slot)
        }
        for rank in 0..<p.cp { #expect(Set(slots[rank]).count == slots[rank].count) }
        // Rank 0 stores position 0 at slot 0 of the first block; position cp*I is its second token.
        #expect(p.slot(of: 0, blockTable: table, blockSize: blockSize) == table[0] * blockSize)
        #expect(p.slot(of: p.cp * p.interleave, blockTable: table, blockSize: blockSize)
            == table[p.interleave / blockSize] * blockSize + p.interleave % blockSize)
    }
}

extension KVPlacement: CustomTestStringConvertible {
    public var testDescription: String { "cp=\(cp) I=\(interleave)" }
}
