import CTesseraKernels
import Testing

/// `tk_dequantize_row` at every instruction-set level this CPU accepts against the portable
/// level (the scalar code DequantizeFixtureTests checks against gguf-py): bit for bit, NaNs
/// included, on random blocks whose f16 scales are mostly finite and sometimes NaN, infinite,
/// zero or subnormal. Levels are switched under `KernelLevels.exclusive`, which restores the
/// best level afterwards.
@Suite(.serialized)
struct DequantizeVariantTests {
    typealias Generator = KernelVariantTests.Generator

    /// Every stored type with the byte offsets of its f16 scale fields.
    static let types: [(type: Int32, name: String, halves: [Int])] = [
        (Int32(TK_F32), "F32", []), (Int32(TK_F16), "F16", []), (Int32(TK_BF16), "BF16", []),
        (Int32(TK_Q4_0), "Q4_0", [0]), (Int32(TK_Q4_1), "Q4_1", [0, 2]), (Int32(TK_Q5_0), "Q5_0", [0]),
        (Int32(TK_Q5_1), "Q5_1", [0, 2]), (Int32(TK_Q8_0), "Q8_0", [0]), (Int32(TK_IQ4_NL), "IQ4_NL", [0]),
        (Int32(TK_Q2_K), "Q2_K", [80, 82]), (Int32(TK_Q3_K), "Q3_K", [108]), (Int32(TK_Q4_K), "Q4_K", [0, 2]),
        (Int32(TK_Q5_K), "Q5_K", [0, 2]), (Int32(TK_Q6_K), "Q6_K", [208]),
    ]

    /// f16 scales that are not ordinary: infinities, quiet and signalling NaNs with payloads and
    /// either sign, zeros, the smallest and largest subnormals.
    static let specialHalves: [UInt16] = [0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01, 0x7D55, 0x0000, 0x8000, 0x0001, 0x83FF]

    /// One row of `blocks` blocks (float types: `blocks` values, any count) of random bytes, the
    /// scales finite unless `special`, then each scale special with probability 1/2.
    static func randomRow(_ type: Int32, halves: [Int], blocks: Int, special: Bool, _ g: inout Generator) -> (bytes: [UInt8], n: Int) {
        let n = blocks * Int(tk_block_elements(type))
        var bytes = (0..<tk_row_bytes(type, Int64(n))).map { _ in UInt8.random(in: 0...255, using: &g) }
        let size = tk_block_bytes(type)
        for b in 0..<(halves.isEmpty ? 0 : blocks) {
            for offset in halves {
                var h = KernelVariantTests.randomHalf(&g)
                if special && Bool.random(using: &g) { h = specialHalves.randomElement(using: &g)! }
                bytes[b * size + offset] = UInt8(h & 0xFF)
                bytes[b * size + offset + 1] = UInt8(h >> 8)
            }
        }
        return (bytes, n)
    }

    /// The row's values as bit patterns at the level in use; the output starts filled with a
    /// marker, so values the function fails to write show up too.
    static func dequantized(_ type: Int32, _ row: [UInt8], _ n: Int) -> [UInt32] {
        var out = [Float](repeating: Float(bitPattern: 0x5555_5555), count: n + 8)
        row.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { tk_dequantize_row(type, src.baseAddress, $0.baseAddress, Int64(n)) }
        }
        return out.map(\.bitPattern)
    }

    @Test func everyLevelMatchesPortableBitForBit() {
        KernelLevels.exclusive {
            let levels = [TK_ISA_AVX2, TK_ISA_AVX512, TK_ISA_NEON].map { Int32($0) }.filter { tk_isa_select($0) == 0 }
            var g = Generator(state: 0xDE0_0A27)
            for entry in Self.types {
                for trial in 0..<120 {
                    let isFloat = entry.halves.isEmpty
                    let blocks = isFloat ? Int.random(in: 1...300, using: &g) : Int.random(in: 1...9, using: &g)
                    let (row, n) = Self.randomRow(entry.type, halves: entry.halves, blocks: blocks,
                                                  special: trial % 3 == 0, &g)
                    _ = tk_isa_select(Int32(TK_ISA_PORTABLE))
                    let reference = Self.dequantized(entry.type, row, n)
                    #expect(reference[n...].allSatisfy { $0 == 0x5555_5555 }, "\(entry.name): wrote past n")
                    for level in levels {
                        _ = tk_isa_select(level)
                        let values = Self.dequantized(entry.type, row, n)
                        guard let i = values.indices.first(where: { values[$0] != reference[$0] }) else { continue }
                        Issue.record("""
                            \(entry.name) at \(String(cString: tk_isa_name(level))), \(n) values, trial \(trial): \
                            value \(i) is \(String(values[i], radix: 16)), portable \(String(reference[i], radix: 16))
                            """)
                        break
                    }
                }
            }
        }
    }

    /// The comparison above can fail: the portable values are not all alike, and a differing bit
    /// is seen (guards against a vacuous pass where both levels write nothing).
    @Test func portableValuesAreWritten() {
        KernelLevels.exclusive {
            _ = tk_isa_select(Int32(TK_ISA_PORTABLE))
            var g = Generator(state: 7)
            for entry in Self.types where !entry.halves.isEmpty {
                let (row, n) = Self.randomRow(entry.type, halves: entry.halves, blocks: 2, special: false, &g)
                let values = Self.dequantized(entry.type, row, n)
                #expect(!values[..<n].contains(0x5555_5555), "\(entry.name): value left unwritten")
                #expect(Set(values[..<n]).count > 4, "\(entry.name): values all alike")
            }
        }
    }
}
