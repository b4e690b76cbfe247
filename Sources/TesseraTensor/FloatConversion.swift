/// Exact conversions from the 16-bit float formats of model files to `Float`.
///
/// Done with bit manipulation rather than `Float(Float16)` so the result is identical on every
/// platform and matches NumPy (which gguf-py and the fixtures use) bit for bit, including
/// signalling-NaN payloads, which hardware conversions may quieten.
public enum FloatConversion {
    /// IEEE 754 binary16 bits to the `Float` of the same value (every half is exactly
    /// representable as a float). NaN payloads are kept, shifted into the high mantissa bits.
    @inlinable @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x03FF)
        switch exponent {
        case 0x1F:
            // Infinity or NaN: all-ones exponent, the mantissa copied across.
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        case 0:
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal half: mantissa * 2^-24, exact in binary32 (which has 8 more exponent bits).
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        default:
            // Normal: rebias the exponent from 15 to 127.
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }

    /// bfloat16 bits to `Float`: bfloat16 is the upper half of a binary32.
    @inlinable @inline(__always)
    public static func bfloat16ToFloat(_ b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }
}
