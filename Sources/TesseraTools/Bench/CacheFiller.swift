import TesseraDistributed
import TesseraEngine
import TesseraModels

/// Writes seeded random keys and values into the slots a rank owns, for benchmarks that time
/// decode steps at a long context: attention cost depends on how many cached tokens it reads,
/// not on their values, and real memory must back them (untouched pages would read as the
/// shared zero page and flatter the figures).
enum CacheFiller {
    /// As a ``RankTask``: arguments are the number of tokens, then the block table.
    static let task: RankTask = { state, arguments in
        fill(state.cache, rank: state.rank, blockTable: Array(arguments.dropFirst()), tokens: arguments[0])
    }

    static func arguments(blockTable: [Int], tokens: Int) -> [Int] { [tokens] + blockTable }

    static func fill(_ cache: PagedKVCache, rank: RankContext, blockTable: [Int], tokens: Int) {
        let placement = rank.placement
        let width = cache.slotWidth
        var random = SeededRandom(seed: UInt64(rank.rank) &+ 0x5EED)
        var key = [Float](repeating: 0, count: width)
        var value = [Float](repeating: 0, count: width)
        for position in 0..<tokens where placement.owner(of: position) == rank.cpRank {
            let slot = placement.slot(of: position, blockTable: blockTable, blockSize: cache.blockSize)
            for layer in 0..<cache.numLayers {
                for i in 0..<width {
                    key[i] = random.nextUnitFloat() * 2 - 1
                    value[i] = random.nextUnitFloat() * 2 - 1
                }
                cache.write(layer: layer, slot: slot, key: key, value: value)
            }
        }
    }
}
