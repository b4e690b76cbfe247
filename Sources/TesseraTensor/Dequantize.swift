/// Conversion of stored tensor bytes (little-endian, GGML block layouts) to f32.
///
/// Each element is computed exactly as gguf-py's NumPy reference does, one rounding per
/// operation in the same order (`d * q + m` is a multiply then an add, never a fused
/// multiply-add), so results match it bit for bit.
///
/// Block layouts (32 values per block):
/// - Q8_0: f16 scale `d`, 32 × int8 `q`; `x = d * q`.
/// - Q4_0: f16 scale `d`, 16 bytes; low nibbles are elements 0..<16, high nibbles 16..<32;
///   `x = d * (q - 8)`.
/// - Q4_1: f16 scale `d`, f16 minimum `m`, 16 bytes in Q4_0's nibble order; `x = d * q + m`.
public enum Dequantize {
    /// Dequantises `destination.count` values of `dtype` read from the start of `source`.
    ///
    /// - Precondition: `destination.count` is a whole number of blocks and `source` holds at
    ///   least `dtype.byteCount(elements: destination.count)` bytes. Readers check both
    ///   against the file before calling.
    public static func convert(
        _ dtype: DType, from source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>
    ) {
        let count = destination.count
        guard count > 0, let out = destination.baseAddress else { return }
        guard let needed = dtype.byteCount(elements: count), let src = source.baseAddress, source.count >= needed else {
            preconditionFailure("dequantize \(dtype): \(count) values need whole blocks and \(dtype.byteCount(elements: count) ?? -1) bytes, got \(source.count)")
        }
        switch dtype {
        case .f32: f32(src, out, count)
        case .f16: f16(src, out, count)
        case .bf16: bf16(src, out, count)
        case .q8_0: q8_0(src, out, count / 32)
        case .q4_0: q4_0(src, out, count / 32)
        case .q4_1: q4_1(src, out, count / 32)
        }
    }

    /// Dequantises `count` values into a new array.
    public static func floats(_ dtype: DType, from source: UnsafeRawBufferPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            convert(dtype, from: source, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }

    // MARK: - Kernels (raw pointers; sizes checked by `convert`)

    @inline(__always)
    static func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        FloatConversion.halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    static func f32(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        #if _endian(little)
        UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: count * 4)
        #else
        for i in 0..<count {
            out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        }
        #endif
    }

    static func f16(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { out[i] = loadHalf(src, i * 2) }
    }

    static func bf16(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            out[i] = FloatConversion.bfloat16ToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        }
    }

    static func q8_0(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let base = b * 34
            let d = loadHalf(src, base)
            let o = out + b * 32
            for j in 0..<32 { o[j] = d * Float(src.load(fromByteOffset: base + 2 + j, as: Int8.self)) }
        }
    }

    static func q4_0(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let base = b * 18
            let d = loadHalf(src, base)
            let qs = base + 2
            let o = out + b * 32
            for j in 0..<16 {
                let byte = src.load(fromByteOffset: qs + j, as: UInt8.self)
                o[j] = d * Float(Int32(byte & 0x0F) - 8)
                o[j + 16] = d * Float(Int32(byte >> 4) - 8)
            }
        }
    }

    static func q4_1(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let base = b * 20
            let d = loadHalf(src, base)
            let m = loadHalf(src, base + 2)
            let qs = base + 4
            let o = out + b * 32
            for j in 0..<16 {
                let byte = src.load(fromByteOffset: qs + j, as: UInt8.self)
                o[j] = d * Float(byte & 0x0F) + m
                o[j + 16] = d * Float(byte >> 4) + m
            }
        }
    }
}
