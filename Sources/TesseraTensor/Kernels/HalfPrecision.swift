import CTesseraKernels

/// f16 and bf16 <-> f32 by bit manipulation, vectorised for the KV cache's read path.
///
/// Swift's `Float16` conversions are library calls on baseline x86-64 (no F16C), one per value;
/// attention reads every cached key and value each step, so the rows run in C with the
/// CPU's conversion instructions.
/// Narrowing rounds to nearest, ties to even, like a hardware conversion.
package enum HalfPrecision {
    // MARK: f16

    /// IEEE binary16 bits to f32. Exact for every input, NaN payloads kept.
    @inline(__always)
    package static func f16ToFloat(_ h: UInt16) -> Float {
        f16ToFloat(SIMD8<UInt16>(repeating: h))[0]
    }

    @inline(__always)
    package static func f16ToFloat(_ h: SIMD8<UInt16>) -> SIMD8<Float> {
        let bits = SIMD8<UInt32>(truncatingIfNeeded: h)
        let sign = (bits & 0x8000) &<< 16
        let magnitude = bits & 0x7fff
        // Exponent and mantissa moved under the f32 fields, then the bias difference
        // (127 - 15 = 112) applied by a multiply, which also normalises subnormals exactly.
        let scaled = unsafeBitCast(magnitude &<< 13, to: SIMD8<Float>.self) * 0x1p112
        var result = unsafeBitCast(scaled, to: SIMD8<UInt32>.self)
        result.replace(with: (magnitude &<< 13) | 0x7f80_0000, where: magnitude .>= 0x7c00)
        return unsafeBitCast(result | sign, to: SIMD8<Float>.self)
    }

    /// f32 to binary16 bits, round to nearest even; overflow gives infinity, NaN stays NaN.
    @inline(__always)
    package static func floatToF16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let magnitude = bits & 0x7fff_ffff
        if magnitude >= 0x7f80_0000 {  // inf or NaN
            let nan: UInt16 = magnitude > 0x7f80_0000 ? 0x200 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x3ff) : 0
            return sign | 0x7c00 | nan
        }
        if magnitude >= 0x4780_0000 {  // >= 65536: infinity after rounding
            return sign | 0x7c00
        }
        if magnitude < 0x3880_0000 {  // below 2^-14: f16 subnormal or zero
            // Adding 0.5 leaves exactly the multiple of 2^-24 nearest the value (the FPU
            // rounds to even); its mantissa bits are the f16 mantissa.
            let sum = Float(bitPattern: magnitude) + 0.5
            return sign | UInt16(truncatingIfNeeded: sum.bitPattern - Float(0.5).bitPattern)
        }
        // Normal: rebias the exponent, then round the 23-bit mantissa to 10 bits. A carry
        // runs into the exponent, which is right (up to infinity at 65520).
        let odd = (magnitude >> 13) & 1
        let rebiased = magnitude &- (112 << 23)
        return sign | UInt16(truncatingIfNeeded: (rebiased &+ 0xfff &+ odd) >> 13)
    }

    // MARK: bf16

    @inline(__always)
    package static func bf16ToFloat(_ h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }

    @inline(__always)
    package static func bf16ToFloat(_ h: SIMD8<UInt16>) -> SIMD8<Float> {
        unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD8<Float>.self)
    }

    /// f32 to bfloat16 bits, round to nearest even; NaN stays (quiet) NaN.
    @inline(__always)
    package static func floatToBF16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 {
            return UInt16(truncatingIfNeeded: bits >> 16) | 0x40
        }
        let odd = (bits >> 16) & 1
        return UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ odd) >> 16)
    }

    // MARK: rows

    // The rows run in C (CTesseraKernels' attention files): F16C and AVX2/AVX-512 where the
    // CPU has them, chosen at run time, bit for bit the scalar conversions above.

    /// Widens `count` f16 values to f32.
    package static func f16ToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
        tk_f16_to_f32_row(src, dst, Int64(n))
    }

    /// Widens `count` bf16 values to f32.
    package static func bf16ToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
        tk_bf16_to_f32_row(src, dst, Int64(n))
    }

    package static func floatToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
        tk_f32_to_f16_row(src, dst, Int64(n))
    }

    package static func floatToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
        tk_f32_to_bf16_row(src, dst, Int64(n))
    }
}
