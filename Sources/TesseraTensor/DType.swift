import CTesseraKernels

/// Element types of stored tensors: plain floats and the GGML block quantisations Tessera can
/// dequantise and multiply (the C kernels' types).
///
/// Quantised types store `blockSize` values in `blockBytes` bytes; a row of a
/// quantised tensor must be a whole number of blocks.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K

    /// The type's number in GGML (`ggml_type`), which the C kernels use too.
    package var ggmlNumber: Int32 {
        switch self {
        case .f32: Int32(TK_F32)
        case .f16: Int32(TK_F16)
        case .bf16: Int32(TK_BF16)
        case .q8_0: Int32(TK_Q8_0)
        case .q4_0: Int32(TK_Q4_0)
        case .q4_1: Int32(TK_Q4_1)
        case .q5_0: Int32(TK_Q5_0)
        case .q5_1: Int32(TK_Q5_1)
        case .iq4_nl: Int32(TK_IQ4_NL)
        case .q2_K: Int32(TK_Q2_K)
        case .q3_K: Int32(TK_Q3_K)
        case .q4_K: Int32(TK_Q4_K)
        case .q5_K: Int32(TK_Q5_K)
        case .q6_K: Int32(TK_Q6_K)
        }
    }

    /// Values per block (1 for the plain float types).
    public var blockSize: Int { Int(tk_block_elements(ggmlNumber)) }

    /// Bytes per block.
    public var blockBytes: Int { tk_block_bytes(ggmlNumber) }

    /// Whether the values are stored in blocks with scales (not plain floats).
    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes needed for `count` values, or nil when `count` is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String { rawValue }
}
