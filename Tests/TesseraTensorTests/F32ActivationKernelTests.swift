import CTesseraKernels
import Testing

/// `tk_gemm_rows_f32` (quantised weights x f32 activations) at every instruction-set level this
/// CPU accepts, for every weight type, on odd shapes: each output equals a double-precision
/// dot product of `tk_dequantize_row`'s weights with the activations, within 1e-5 of the sum of
/// |w * a| (the only differences allowed are summation order and fused multiply-adds).
@Suite(.serialized)
struct F32ActivationKernelTests {
    typealias Fixtures = KernelVariantTests

    /// Row lengths: 1, 3 and 9 blocks (f32/f16/bf16, whose blocks are single values, also get
    /// lengths that are not multiples of the 32 values the vector kernels take at a time).
    static func lengths(_ type: Int32) -> [Int] {
        let block = Int(tk_block_elements(type))
        return block == 1 ? [1, 7, 32, 45, 96, 288] : [block, 3 * block, 9 * block]
    }

    /// One product checked against the reference; returns the number of outputs outside the bound.
    static func mismatches(type: Int32, halves: [Int], k: Int, rows: Int, m: Int, accumulate: Bool,
                           _ g: inout Fixtures.Generator) -> Int {
        let weights = Fixtures.randomWeights(type, halves: halves, rows: rows, k: k, &g)
        let activations = (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &g) }
        let ldc = rows + 3, j0 = rows > 2 ? 1 : 0
        let start = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &g) }
        var c = start
        weights.withUnsafeBytes { w in
            c.withUnsafeMutableBufferPointer { out in
                tk_gemm_rows_f32(type, w.baseAddress, Int64(k), activations, Int64(m), out.baseAddress, Int64(ldc),
                                 Int64(j0), Int64(rows), accumulate ? 1 : 0)
            }
        }
        let rowBytes = tk_row_bytes(type, Int64(k))
        var bad = 0
        for j in 0..<rows {
            let w = Fixtures.dequantize(type, Array(weights[(j * rowBytes)..<((j + 1) * rowBytes)]), k: k)
            for i in 0..<m {
                let index = i * ldc + j
                guard j >= j0 else {
                    if c[index].bitPattern != start[index].bitPattern { bad += 1 }   /* rows before j0 untouched */
                    continue
                }
                var sum = accumulate ? Double(start[index]) : 0, magnitude = abs(sum)
                for v in 0..<k {
                    let p = w[v] * Double(activations[i * k + v])
                    sum += p
                    magnitude += abs(p)
                }
                if !(abs(Double(c[index]) - sum) <= 1e-5 * magnitude) { bad += 1 }
            }
            // Padding columns past the rows are never written.
            for i in 0..<m where rows < ldc && c[i * ldc + rows].bitPattern != start[i * ldc + rows].bitPattern { bad += 1 }
        }
        return bad
    }

    @Test func everyTypeAndLevelMatchesTheDoubleReference() {
        KernelLevels.exclusive {
            for level in Fixtures.levels() {
                #expect(tk_isa_select(level) == 0)
                var g = Fixtures.Generator(state: 0xF32A_C700 + UInt64(level))
                for (type, name, halves) in Fixtures.weightTypes {
                    for k in Self.lengths(type) {
                        for rows in [1, 2, 5, 13] {
                            for m in [1, 2, 5, 8, 11] {
                                let accumulate = (rows + m) % 2 == 0
                                let bad = Self.mismatches(type: type, halves: halves, k: k, rows: rows, m: m,
                                                          accumulate: accumulate, &g)
                                #expect(bad == 0, "\(String(cString: tk_isa_name(level))) \(name) k=\(k) rows=\(rows) m=\(m) accumulate=\(accumulate)")
                            }
                        }
                    }
                }
            }
        }
        #expect(tk_isa_current() == tk_isa_best())
    }

    /// Every supported weight type has an f32-activation kernel at every level (a missing entry
    /// would leave the output untouched, which the reference test catches only by value).
    @Test func everyLevelFillsEveryType() {
        KernelLevels.exclusive {
            for level in Fixtures.levels() {
                #expect(tk_isa_select(level) == 0)
                for (type, name, halves) in Fixtures.weightTypes {
                    var g = Fixtures.Generator(state: 7)
                    let k = Int(tk_block_elements(type)) == 1 ? 32 : Int(tk_block_elements(type))
                    let weights = Fixtures.randomWeights(type, halves: halves, rows: 1, k: k, &g)
                    let x = [Float](repeating: 1, count: k)
                    var c: [Float] = [.nan]
                    weights.withUnsafeBytes { tk_gemm_rows_f32(type, $0.baseAddress, Int64(k), x, 1, &c, 1, 0, 1, 0) }
                    #expect(c[0].isFinite, "\(String(cString: tk_isa_name(level))) \(name)")
                }
            }
        }
    }
}
