/// Element types of stored tensors: plain floats and the GGML block quantisations.
///
/// Quantised types store `blockSize` values in `blockBytes` bytes; a row of a
/// quantised tensor must be a whole number of blocks.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16, q8_0, q4_0, q4_1

    /// Values per block (1 for the plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1: 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 2 + 32        // f16 scale, 32 x int8
        case .q4_0: 2 + 16        // f16 scale, 32 x 4-bit
        case .q4_1: 2 + 2 + 16    // f16 scale, f16 min, 32 x 4-bit
        }
    }

    /// Bytes needed for `count` values, or nil when `count` is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String { rawValue }
}
