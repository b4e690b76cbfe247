import CTesseraKernels

/// Conversion of stored tensor bytes (little-endian, GGML block layouts) to f32, by the C
/// kernels' `tk_dequantize_row`.
///
/// Each element is computed exactly as gguf-py's NumPy reference does, one rounding per
/// operation in the same order (`d * q + m` is a multiply then an add, never a fused
/// multiply-add), so results match it bit for bit (`DequantizeFixtureTests` checks real
/// tensors of every type against gguf-py).
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
        tk_dequantize_row(dtype.ggmlNumber, src, out, Int64(count))
    }

    /// Dequantises `count` values into a new array.
    public static func floats(_ dtype: DType, from source: UnsafeRawBufferPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            convert(dtype, from: source, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }
}
