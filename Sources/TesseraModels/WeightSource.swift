import TesseraTensor

/// Where a stored tensor came from and what it looks like, before loading.
public struct TensorInfo: Sendable, Equatable {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public var name: String
    /// Hugging Face order, outermost first: a linear weight is `[out, in]`.
    public var shape: [Int]
    public var dtype: DType

    public init(name: String, shape: [Int], dtype: DType) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
    }
}

/// A set of named weights in Hugging Face naming and layout, whatever the file format.
///
/// GGUF sources translate names (`blk.0.attn_q.weight` -> `model.layers.0.self_attn.q_proj.weight`),
/// reverse the dimension order, and undo llama.cpp's rotary permutation of Q and K rows, so a
/// model implementation sees one layout.
public protocol WeightSource: Sendable {
    /// Every tensor the source holds, by Hugging Face name.
    var tensorInfos: [String: TensorInfo] { get }

    /// The whole tensor, dequantised to f32, in Hugging Face layout.
    func load(_ name: String) throws -> Tensor

    /// Rows `rows` of a tensor viewed as `[shape[0], rest]`, dequantised to f32.
    /// Lets a rank read only its shard of a weight.
    func load(_ name: String, rows: Range<Int>) throws -> Tensor
}
