import CTesseraKernels
import Foundation
import Testing
@testable import TesseraTensor

/// The attention kernels of CTesseraKernels at every instruction-set level this CPU accepts
/// (portable always), taken with `tk_attn_kernels_for` so the process-wide level is never
/// switched: products against a double-precision computation on odd shapes, and the 16-bit
/// conversions bit for bit against the scalar Swift ones in `HalfPrecision` (every f16/bf16
/// pattern widened, edge and random f32 patterns narrowed).
struct AttentionKernelVariantTests {
    /// SplitMix64 with a fixed seed, so a failure reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func code(_ value: some BinaryInteger) -> Int32 { Int32(value) }

    /// (level name, its kernels) for every level accepted here, portable first.
    static func levels() -> [(String, tk_attn_kernels)] {
        [TK_ISA_PORTABLE, TK_ISA_AVX2, TK_ISA_AVX512, TK_ISA_NEON].map(code).compactMap { level in
            var k = tk_attn_kernels()
            guard tk_attn_kernels_for(level, &k) == 0 else { return nil }
            return (String(cString: tk_isa_name(level)), k)
        }
    }

    static func random(_ n: Int, _ g: inout Generator) -> [Float] {
        (0..<n).map { _ in Float.random(in: -2...2, using: &g) }
    }

    /// Any order of summing `n` products, rounded at each step (FMA or not), is within
    /// `n * eps * sum|terms|` of the exact sum (plus the final rounding), so this bound cannot
    /// be met by a kernel that drops, repeats or misplaces a term of magnitude above it.
    static func tolerance(terms n: Int, magnitude: Double) -> Double {
        Double(n + 2) * Double(Float.ulpOfOne) * magnitude + 1e-30
    }

    @Test func levelsIncludePortableAndTheBest() {
        let names = Self.levels().map(\.0)
        #expect(names.first == "portable")
        #expect(names.contains(String(cString: tk_isa_name(tk_isa_best()))))
    }

    @Test(arguments: [64, 128, 192, 576])
    func scoresMatchDoubleReference(headDim hd: Int) throws {
        var g = Generator(state: UInt64(hd))
        let stride = hd + 5
        for (name, kernels) in Self.levels() {
            let scores = try #require(kernels.scores)
            for rows in 1...9 {
                for count in 1...37 {
                    let q = Self.random(rows * hd, &g), k = Self.random(count * stride, &g)
                    let scoreStride = count + 3
                    var s = [Float](repeating: .nan, count: rows * scoreStride)
                    scores(q, Int64(rows), Int64(hd), k, Int64(stride), Int64(count), &s, Int64(scoreStride))
                    var failures = 0
                    for r in 0..<rows {
                        for t in 0..<count {
                            var exact = 0.0, magnitude = 0.0
                            for d in 0..<hd {
                                let p = Double(q[r * hd + d]) * Double(k[t * stride + d])
                                exact += p
                                magnitude += abs(p)
                            }
                            let got = Double(s[r * scoreStride + t])
                            if !(abs(got - exact) <= Self.tolerance(terms: hd, magnitude: magnitude)) { failures += 1 }
                        }
                        // Padding past `count` is not written.
                        for t in count..<scoreStride where !s[r * scoreStride + t].isNaN { failures += 1 }
                    }
                    #expect(failures == 0, "\(name): headDim \(hd) rows \(rows) count \(count)")
                }
            }
        }
    }

    @Test(arguments: [64, 128, 192, 576])
    func accumulateMatchesDoubleReference(headDim hd: Int) throws {
        var g = Generator(state: 1000 + UInt64(hd))
        let stride = hd + 3
        for (name, kernels) in Self.levels() {
            let accumulate = try #require(kernels.accumulate)
            for rows in 1...9 {
                for count in 1...37 {
                    let weightStride = count + 2
                    let w = Self.random(rows * weightStride, &g), v = Self.random(count * stride, &g)
                    let start = Self.random(rows * hd + 7, &g)  // 7 floats past the rows: untouched
                    var out = start
                    accumulate(w, Int64(weightStride), Int64(rows), v, Int64(stride), Int64(count), Int64(hd), &out)
                    var failures = 0
                    for r in 0..<rows {
                        for d in 0..<hd {
                            var exact = Double(start[r * hd + d]), magnitude = abs(exact)
                            for t in 0..<count {
                                let p = Double(w[r * weightStride + t]) * Double(v[t * stride + d])
                                exact += p
                                magnitude += abs(p)
                            }
                            let got = Double(out[r * hd + d])
                            if !(abs(got - exact) <= Self.tolerance(terms: count + 1, magnitude: magnitude)) {
                                failures += 1
                            }
                        }
                    }
                    if out[(rows * hd)...] != start[(rows * hd)...] { failures += 1 }
                    #expect(failures == 0, "\(name): headDim \(hd) rows \(rows) count \(count)")
                }
            }
        }
    }

    /// Every 16-bit pattern, from an odd offset and with an odd length so the vector loops'
    /// tails run too, against the Swift scalar conversion, bit for bit.
    @Test func widenEveryPatternBitExact() throws {
        let all = (0...UInt16.max).map { $0 }
        let f16Expected = all.map { HalfPrecision.f16ToFloat($0).bitPattern }
        let bf16Expected = all.map { HalfPrecision.bf16ToFloat($0).bitPattern }
        #expect(f16Expected[0x7c01] == 0x7f80_2000)  // a signalling NaN stays signalling
        for (name, kernels) in Self.levels() {
            let f16 = try #require(kernels.f16_to_f32), bf16 = try #require(kernels.bf16_to_f32)
            for (offset, length) in [(0, all.count), (3, all.count - 3 - 6), (5, 13)] {
                var got = [Float](repeating: 0, count: length)
                all.withUnsafeBufferPointer { f16($0.baseAddress! + offset, &got, Int64(length)) }
                let f16Mismatch = (0..<length).first { got[$0].bitPattern != f16Expected[offset + $0] }
                #expect(f16Mismatch == nil, "\(name) f16 0x\(String(offset + (f16Mismatch ?? 0), radix: 16))")
                all.withUnsafeBufferPointer { bf16($0.baseAddress! + offset, &got, Int64(length)) }
                let bf16Mismatch = (0..<length).first { got[$0].bitPattern != bf16Expected[offset + $0] }
                #expect(bf16Mismatch == nil, "\(name) bf16 0x\(String(offset + (bf16Mismatch ?? 0), radix: 16))")
            }
        }
    }

    /// f32 patterns at every rounding edge (ties, subnormal and overflow thresholds, NaNs with
    /// payloads, both signs) and random ones, against the Swift scalar conversions.
    @Test func narrowBitExact() throws {
        var bits: [UInt32] = []
        // Around each f16/bf16 rounding point: exponents over the whole range, low bits at
        // and around the halfway marks of both formats.
        for exponent in UInt32(0)...255 {
            for low: UInt32 in [0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0x18000, 0x7f_ffff] {
                for mantissaTop: UInt32 in [0, 0x40_0000, 0x2a_0000] {
                    let magnitude = exponent << 23 | ((mantissaTop | low) & 0x7f_ffff)
                    bits.append(magnitude)
                    bits.append(magnitude | 0x8000_0000)
                }
            }
        }
        bits += [0x477f_efff, 0x477f_f000, 0x477f_f001, 0x4780_0000, 0x3300_0000, 0x3300_0001, 0x3880_0000, 0x387f_ffff,
                 0x7f80_0001, 0x7fc0_0000, 0xffff_ffff, 0x7f80_2000, 0x7fbf_ffff]
        var g = Generator(state: 42)
        for _ in 0..<200_000 { bits.append(UInt32(truncatingIfNeeded: g.next())) }
        let values = bits.map { Float(bitPattern: $0) }
        let f16Expected = values.map { HalfPrecision.floatToF16($0) }
        let bf16Expected = values.map { HalfPrecision.floatToBF16($0) }
        for (name, kernels) in Self.levels() {
            let f16 = try #require(kernels.f32_to_f16), bf16 = try #require(kernels.f32_to_bf16)
            var got = [UInt16](repeating: 0, count: values.count)
            f16(values, &got, Int64(values.count))
            let f16Mismatch = (0..<values.count).first { got[$0] != f16Expected[$0] }
            #expect(f16Mismatch == nil, "\(name) f16 of 0x\(String(bits[f16Mismatch ?? 0], radix: 16))")
            bf16(values, &got, Int64(values.count))
            let bf16Mismatch = (0..<values.count).first { got[$0] != bf16Expected[$0] }
            #expect(bf16Mismatch == nil, "\(name) bf16 of 0x\(String(bits[bf16Mismatch ?? 0], radix: 16))")
        }
    }

    /// The Swift tile step (at the level in use) over two tiles equals a softmax-weighted sum
    /// of the values computed in double, for a group of rows not a multiple of four.
    @Test func attendTileMatchesDoubleSoftmax() {
        var g = Generator(state: 7)
        let rows = 7, hd = 128, tile = 32, total = 53
        let q = Self.random(rows * hd, &g).map { $0 * 0.3 }
        let k = Self.random(total * hd, &g), v = Self.random(total * hd, &g)
        var out = [Float](repeating: 0, count: rows * hd)
        var runningMax = [Float](repeating: -.infinity, count: rows), runningSum = [Float](repeating: 0, count: rows)
        var scores = [Float](repeating: 0, count: rows * tile)
        var start = 0
        while start < total {
            let count = min(tile, total - start)
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    GroupedAttentionKernels.attendTile(
                        queries: q, rows: rows, headDim: hd, keys: kp.baseAddress! + start * hd,
                        values: vp.baseAddress! + start * hd, stride: hd, count: count, scores: &scores,
                        scoreStride: tile, runningMax: &runningMax, runningSum: &runningSum, out: &out)
                }
            }
            start += count
        }
        var worst = 0.0
        for r in 0..<rows {
            let logits = (0..<total).map { t in (0..<hd).reduce(0.0) { $0 + Double(q[r * hd + $1]) * Double(k[t * hd + $1]) } }
            let m = logits.max()!
            let e = logits.map { Foundation.exp($0 - m) }
            let sum = e.reduce(0, +)
            for d in 0..<hd {
                let exact = (0..<total).reduce(0.0) { $0 + e[$1] * Double(v[$1 * hd + d]) } / sum
                worst = max(worst, abs(Double(out[r * hd + d] / runningSum[r]) - exact))
            }
        }
        #expect(worst < 1e-4)
    }
}
