import Foundation
import TestSupport
import Testing
@testable import TesseraTensor

/// Kernels against naive reference implementations written here, in double where it helps.
@Suite("Kernels")
struct KernelTests {
    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        TestRandom.floats(count, seed: seed, scale: scale)
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func dotAxpyScaleMax() {
        for n in [0, 1, 7, 16, 31, 32, 33, 64, 100] {
            let a = Self.random(n, seed: 1), b = Self.random(n, seed: 2)
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let got = VectorOps.dot(a, b, count: n)
            #expect(abs(Double(got) - expected) < 1e-5, "n=\(n)")
            var y = b
            VectorOps.axpy(0.5, a, &y, count: n)
            #expect(Self.maxAbsDiff(y, zip(a, b).map { 0.5 * $0 + $1 }) < 1e-6)
            VectorOps.scale(&y, by: 2, count: n)
            #expect(Self.maxAbsDiff(y, zip(a, b).map { 2 * (0.5 * $0 + $1) }) < 1e-6)
            #expect(VectorOps.max(a, count: n) == (a.max() ?? -.infinity))
        }
    }

    @Test func rmsNormMatchesNaive() {
        let rows = 3, dim = 37, eps: Float = 1e-5
        let x = Self.random(rows * dim, seed: 3, scale: 4)
        let w = Self.random(dim, seed: 4)
        var out = [Float](repeating: 0, count: rows * dim)
        RMSNorm.apply(x, weight: w, eps: eps, into: &out, rows: rows, dim: dim)
        var expected = [Float]()
        for r in 0..<rows {
            let row = x[r * dim..<(r + 1) * dim].map(Double.init)
            let inv = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + Double(eps)).squareRoot()
            expected += (0..<dim).map { Float(row[$0] * inv * Double(w[$0])) }
        }
        #expect(Self.maxAbsDiff(out, expected) < 1e-5)
        // In place with strides (per-head norm as Qwen3 uses it).
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            RMSNorm.apply(p.baseAddress!, inStride: dim, weight: w, eps: eps, into: p.baseAddress!, outStride: dim,
                          rows: rows, dim: dim)
        }
        #expect(inPlace == out)
    }

    @Test func rotaryMatchesRotateHalf() {
        let headDim = 64, heads = 3, theta = 100_000.0
        let positions = [0, 1, 5, 1000, 8191]
        let inv = Rotary.inverseFrequencies(headDim: headDim, theta: theta)
        for i in 0..<headDim / 2 {
            let exact = pow(theta, -Double(2 * i) / Double(headDim))
            #expect(abs(Double(inv[i]) - exact) <= exact * 1e-6)
        }
        let (cosines, sines) = Rotary.table(positions: positions, inverseFrequencies: inv)
        let stride = heads * headDim + 5  // rows padded, like the fused qkv buffer
        let x = Self.random(positions.count * stride, seed: 5)
        var y = x
        Rotary.apply(&y, rows: positions.count, rowStride: stride, heads: heads, headDim: headDim, cos: cosines, sin: sines)
        let half = headDim / 2
        for (r, p) in positions.enumerated() {
            for h in 0..<heads {
                let base = r * stride + h * headDim
                for i in 0..<half {
                    let angle = Double(Float(p) * inv[i])
                    let a = Double(x[base + i]), b = Double(x[base + i + half])
                    #expect(abs(Double(y[base + i]) - (a * cos(angle) - b * sin(angle))) < 1e-5)
                    #expect(abs(Double(y[base + i + half]) - (b * cos(angle) + a * sin(angle))) < 1e-5)
                }
            }
            // Padding untouched.
            #expect(Array(y[r * stride + heads * headDim..<(r + 1) * stride]) == Array(x[r * stride + heads * headDim..<(r + 1) * stride]))
        }
    }

    /// torch's `1 / (100000 ** (arange(0, 64, 2).float() / 64))`, as f32 bits (SmolLM2's rotary).
    static let torchInverseFrequencies: [UInt32] = [
        0x3f800000, 0x3f32a506, 0x3ef953cf, 0x3eadfcff, 0x3e72d423, 0x3e297409, 0x3dec7fd6, 0x3da50956,
        0x3d6655c2, 0x3d20bc1d, 0x3ce054d2, 0x3c9c8b97, 0x3c5a7bf2, 0x3c187705, 0x3bd4ca15, 0x3b947dae,
        0x3b4f3e38, 0x3b109edb, 0x3ac9d75c, 0x3a8cd9db, 0x3a44948c, 0x3a092e02, 0x39bf74d7, 0x39859aa9,
        0x393a7753, 0x39021f2b, 0x38b59b1b, 0x387d75d4, 0x3830df52, 0x37f6da96, 0x37ac431d, 0x37706b6d,
    ]

    @Test func inverseFrequenciesMatchTorchBitForBit() {
        let inv = Rotary.inverseFrequencies(headDim: 64, theta: 100_000)
        #expect(inv.map(\.bitPattern) == Self.torchInverseFrequencies)
    }

    @Test func fastExpIsAccurate() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let got = Double(FastExp.exp(x))
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(got - exact) / exact)
            x += 0.0137
        }
        #expect(worst < 3e-7, "worst relative error \(worst)")
        let v = FastExp.exp(SIMD16<Float>(-.infinity, -1000, -88, 0, 1, 89, 1000, .infinity, 0, 0, 0, 0, 0, 0, 0, 0))
        #expect(v[0] == 0 && v[1] == 0 && v[2] == 0)
        #expect(v[3] == 1)
        #expect(v[5] == .infinity && v[6] == .infinity && v[7] == .infinity)
    }

    @Test func softmaxAndLSE() {
        for n in [1, 5, 16, 17, 100] {
            let x = Self.random(n, seed: UInt64(n), scale: 30)
            let m = Double(x.max()!)
            let sum = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
            let lse = m + Foundation.log(sum)
            #expect(abs(Double(Softmax.logSumExp(x, count: n)) - lse) < 1e-5)
            var p = x
            let got = Softmax.inPlace(&p, count: n)
            #expect(abs(Double(got) - lse) < 1e-5)
            for i in 0..<n {
                #expect(abs(Double(p[i]) - Foundation.exp(Double(x[i]) - lse)) < 1e-6)
            }
        }
        var empty: [Float] = []
        #expect(Softmax.inPlace(&empty, count: 0) == -.infinity)
        var masked: [Float] = [-.infinity, -.infinity]
        #expect(Softmax.inPlace(&masked, count: 2) == -.infinity)
        #expect(masked == [0, 0])
        // Extreme but finite scores stay finite.
        var extreme: [Float] = [1e4, -1e4, 1e4 - 1]
        let l = Softmax.inPlace(&extreme, count: 3)
        #expect(l.isFinite && extreme.allSatisfy(\.isFinite))
    }

    @Test func swiGLUMatchesNaive() {
        let rows = 2, width = 40
        let gu = Self.random(rows * 2 * width, seed: 7, scale: 20)
        var out = [Float](repeating: 0, count: rows * width)
        gu.withUnsafeBufferPointer { p in
            SwiGLU.apply(gate: p.baseAddress!, up: p.baseAddress! + width, inStride: 2 * width, into: &out,
                         rows: rows, width: width)
        }
        for r in 0..<rows {
            for i in 0..<width {
                let g = Double(gu[r * 2 * width + i]), u = Double(gu[r * 2 * width + width + i])
                let expected = g / (1 + Foundation.exp(-g)) * u
                #expect(abs(Double(out[r * width + i]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
    }

    @Test(arguments: [(1, 7, 5), (3, 11, 4), (5, 1, 9), (17, 33, 65), (2, 128, 3)])
    func linearMatchesNaive(shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        let a = Self.random(m * k, seed: 11), w = Self.random(n * k, seed: 12)
        let bias = Self.random(m * n, seed: 13)
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<k { s += Double(a[i * k + t]) * Double(w[j * k + t]) }
                expected[i * n + j] = Float(s)
            }
        }
        var c = [Float](repeating: .nan, count: m * n)
        BLAS.linear(a, rows: m, inner: k, weight: w, outer: n, into: &c)
        #expect(Self.maxAbsDiff(c, expected) < 1e-4)
        c = bias
        BLAS.linear(a, rows: m, inner: k, weight: w, outer: n, into: &c, accumulate: true)
        #expect(Self.maxAbsDiff(c, zip(expected, bias).map { $0 + $1 }) < 1e-4)
    }

    @Test(arguments: [16, 64, 80, 128])
    func attentionKernelsMatchNaive(headDim: Int) {
        let count = 13, stride = headDim + 7
        let q = Self.random(headDim, seed: 31)
        let keys = Self.random(count * stride, seed: 32)
        let values = Self.random(count * stride, seed: 33)
        let weights = Self.random(count, seed: 34)
        var scores = [Float](repeating: .nan, count: count)
        let best = AttentionKernels.scores(query: q, keys: keys, stride: stride, count: count, headDim: headDim, into: &scores)
        let expected = (0..<count).map { t in (0..<headDim).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[t * stride + $1]) } }
        #expect(zip(scores, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        #expect(best == scores.max())
        var out = Self.random(headDim, seed: 35)
        var reference = out.map(Double.init)
        AttentionKernels.accumulate(weights: weights, values: values, stride: stride, count: count, headDim: headDim, into: &out)
        for t in 0..<count {
            for i in 0..<headDim { reference[i] += Double(weights[t]) * Double(values[t * stride + i]) }
        }
        #expect(zip(out, reference).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        var none = [Float]()
        #expect(AttentionKernels.scores(query: q, keys: keys, stride: stride, count: 0, headDim: headDim, into: &none) == -.infinity)
    }

    @Test func f16WideningIsExactForEveryValue() {
        var bits = [UInt16](0...UInt16.max)
        var wide = [Float](repeating: 0, count: bits.count)
        HalfPrecision.f16ToFloat(&bits, &wide, count: bits.count)
        for (h, f) in zip(bits, wide) {
            let reference = Float(Float16(bitPattern: h))
            if reference.isNaN {
                #expect(f.isNaN)
                #expect(f.bitPattern == FloatConversion.halfToFloat(h).bitPattern)
            } else {
                #expect(f.bitPattern == reference.bitPattern, "half bits \(h)")
                // Narrowing back is the identity.
                #expect(HalfPrecision.floatToF16(f) == h, "half bits \(h)")
            }
        }
    }

    @Test func f16NarrowingRoundsToNearestEven() {
        var samples: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, 70000, -1e9, 1e-8, 5.96e-8, 2.98e-8, 2.99e-8,
                                6.1e-5, 6.103515625e-05, 1 + 1.0 / 2048, 1 + 3.0 / 2048, .infinity, -.infinity,
                                .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        samples += Self.random(20000, seed: 21, scale: 70000)
        samples += Self.random(20000, seed: 22, scale: 1e-4)
        for f in samples {
            #expect(HalfPrecision.floatToF16(f) == Float16(f).bitPattern, "value \(f)")
        }
        #expect(HalfPrecision.f16ToFloat(HalfPrecision.floatToF16(.nan)).isNaN)
    }

    @Test func bf16RoundTripAndRounding() {
        var bits = [UInt16](0...UInt16.max)
        var wide = [Float](repeating: 0, count: bits.count)
        HalfPrecision.bf16ToFloat(&bits, &wide, count: bits.count)
        for (b, f) in zip(bits, wide) {
            #expect(f.bitPattern == FloatConversion.bfloat16ToFloat(b).bitPattern)
            if !f.isNaN { #expect(HalfPrecision.floatToBF16(f) == b) }
        }
        for f in Self.random(20000, seed: 23, scale: 1000) {
            // Reference: the nearest of the two bf16 neighbours, ties to the even one.
            let down = f.bitPattern & 0xffff_0000
            let lo = Float(bitPattern: down), hi = Float(bitPattern: down + 0x1_0000)
            let dLo = abs(Double(f) - Double(lo)), dHi = abs(Double(f) - Double(hi))
            let expected = dLo < dHi || (dLo == dHi && (down >> 16) & 1 == 0) ? down >> 16 : (down >> 16) + 1
            #expect(UInt32(HalfPrecision.floatToBF16(f)) == expected, "value \(f)")
        }
        #expect(HalfPrecision.bf16ToFloat(HalfPrecision.floatToBF16(.nan)).isNaN)
        #expect(HalfPrecision.floatToBF16(.infinity) == 0x7f80)
    }
}
