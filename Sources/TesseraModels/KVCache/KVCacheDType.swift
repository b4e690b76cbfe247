/// Element type of the stored keys and values. Attention always computes in f32; f16/bf16
/// halve the memory per token at a small cost in accuracy (values are rounded once, on write).
public enum KVCacheDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16

    public var bytesPerElement: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        }
    }

    public var description: String { rawValue }
}
