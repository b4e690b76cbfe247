import TesseraTensor

/// Tensor element types known to GGUF (`ggml_type`). All are recognised so that any valid file
/// can be opened and its tensors bounds-checked; only those with a `dtype` can be loaded.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22
    case iq4_XS = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Name as llama.cpp and gguf-py print it (`Q4_1`, `IQ2_XXS`, `BF16`).
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_XXS: "IQ2_XXS"
        case .iq2_XS: "IQ2_XS"
        case .iq3_XXS: "IQ3_XXS"
        case .iq1_S: "IQ1_S"
        case .iq4_NL: "IQ4_NL"
        case .iq3_S: "IQ3_S"
        case .iq2_S: "IQ2_S"
        case .iq4_XS: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_M: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        }
    }

    /// Elements per block and bytes per block (gguf-py's `GGML_QUANT_SIZES`).
    public var blockLayout: (elements: Int, bytes: Int) {
        let qk = 256   // super-block size of the k-quants
        return switch self {
        case .f32: (1, 4)
        case .f16, .bf16: (1, 2)
        case .q4_0: (32, 2 + 16)
        case .q4_1: (32, 2 + 2 + 16)
        case .q5_0: (32, 2 + 4 + 16)
        case .q5_1: (32, 2 + 2 + 4 + 16)
        case .q8_0: (32, 2 + 32)
        case .q8_1: (32, 4 + 4 + 32)
        case .q2_K: (qk, 2 + 2 + qk / 16 + qk / 4)
        case .q3_K: (qk, 2 + qk / 4 + qk / 8 + 12)
        case .q4_K: (qk, 2 + 2 + qk / 2 + 12)
        case .q5_K: (qk, 2 + 2 + qk / 2 + qk / 8 + 12)
        case .q6_K: (qk, 2 + qk / 2 + qk / 4 + qk / 16)
        case .q8_K: (qk, 4 + qk + qk / 8)
        case .iq2_XXS: (qk, 2 + qk / 4)
        case .iq2_XS: (qk, 2 + qk / 4 + qk / 32)
        case .iq3_XXS: (qk, 2 + qk / 4 + qk / 8)
        case .iq1_S: (qk, 2 + qk / 8 + qk / 16)
        case .iq4_NL: (32, 2 + 16)
        case .iq3_S: (qk, 2 + qk / 4 + qk / 8 + qk / 32 + 4)
        case .iq2_S: (qk, 2 + qk / 4 + qk / 16)
        case .iq4_XS: (qk, 2 + 2 + qk / 2 + qk / 64)
        case .i8: (1, 1)
        case .i16: (1, 2)
        case .i32: (1, 4)
        case .i64, .f64: (1, 8)
        case .iq1_M: (qk, qk / 8 + qk / 16 + qk / 32)
        case .tq1_0: (qk, 2 + 4 * 13)
        case .tq2_0: (qk, 2 + 64)
        case .mxfp4: (32, 1 + 16)
        }
    }

    /// The Tessera element type, or nil when tensors of this type cannot be loaded.
    public var dtype: DType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        case .iq4_NL: .iq4_nl
        case .q2_K: .q2_K
        case .q3_K: .q3_K
        case .q4_K: .q4_K
        case .q5_K: .q5_K
        case .q6_K: .q6_K
        default: nil
        }
    }
}
