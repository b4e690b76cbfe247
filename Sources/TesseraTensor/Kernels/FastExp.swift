/// A vectorisable `exp` for f32, within about 2 ulp of the correctly rounded result.
///
/// `expf` from libm is a scalar call per value; SiLU over the MLP width and softmax over
/// attention scores call it millions of times per step. This splits `x = k ln2 + r` with
/// `|r| <= ln2/2`, evaluates a degree-7 Taylor polynomial for `e^r` (truncation error below
/// 1e-8 relative) and builds `2^k` from its exponent bits. Results below about 1e-38 flush to
/// zero (never NaN), which is harmless for softmax weights and sigmoid.
package enum FastExp {
    @inlinable static var log2e: Float { 1.442_695_04 }
    /// ln 2 split in a part exact in few bits and a small remainder (Cody–Waite reduction).
    @inlinable static var ln2High: Float { 0.693_145_75 }
    @inlinable static var ln2Low: Float { 1.428_606_8e-6 }
    /// 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    @inlinable static var roundingMagic: Float { 12_582_912 }
    /// Keeps k <= 127 so 2^k stays finite; exp(88.3) is about 2^127.4.
    @inlinable static var maxInput: Float { 88.3 }
    @inlinable static var minInput: Float { -87.3 }

    @inlinable @inline(__always)
    package static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // No clamping: lanes outside [minInput, maxInput] compute garbage that the masks at
        // the end replace (the generic pointwiseMin/Max are not inlined and cost more).
        let shifted = x * log2e + roundingMagic
        let k = shifted - roundingMagic
        let kBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- Int32(bitPattern: roundingMagic.bitPattern)
        let r = x - k * ln2High - k * ln2Low
        // Horner form of sum r^i / i!, i = 0...7.
        var p = SIMD16<Float>(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let scaleBits = (kBits &+ 127) &<< 23
        var result = p * unsafeBitCast(scaleBits, to: SIMD16<Float>.self)
        result.replace(with: 0, where: x .< minInput)
        result.replace(with: .infinity, where: x .> maxInput)
        return result
    }

    /// Scalar form with the same arithmetic, for loop tails.
    @inlinable @inline(__always)
    package static func exp(_ x: Float) -> Float {
        exp(SIMD16<Float>(repeating: x))[0]
    }
}
