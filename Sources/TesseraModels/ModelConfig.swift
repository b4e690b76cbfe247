/// The architecture families Tessera can run.
public enum Architecture: String, Sendable, CaseIterable {
    /// Llama, SmolLM2, Mistral-style GQA: RMSNorm, rotary, SwiGLU.
    case llama
    /// Qwen3: Llama plus RMSNorm on each query and key head before rotary.
    case qwen3
    /// Qwen2 / Qwen2.5: Llama plus biases on the q/k/v projections (``ModelConfig/attentionQKVBias``).
    case qwen2
    /// DeepSeek-V2/V3: multi-head latent attention (``ModelConfig/latentAttention``) and a
    /// mixture of experts (``ModelConfig/experts``); the name is llama.cpp's.
    case deepseek2
}

/// Shapes and constants of a decoder-only transformer, validated once at load time.
/// Sizes derived from it are computed, never stored back.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var ropeTheta: Double
    public var rmsNormEps: Float
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    /// DeepSeek's latent attention; then `numKVHeads` is 1 and `headDim` the cached width
    /// per token (`kvLoraRank + qkRopeHeadDim`).
    public var latentAttention: LatentAttentionShape?
    /// The mixture-of-experts feed-forward of the layers it names; nil: every layer is dense.
    public var experts: MixtureOfExperts?
    /// YaRN rotary scaling; nil: plain rotary.
    public var yarn: YaRNScaling?
    /// Sliding-window attention (Mistral): a query at position `p` sees keys at positions
    /// `p - slidingWindow + 1 ... p`; nil: full causal attention.
    public var slidingWindow: Int?
    /// Rotary scaling that changes only the frequencies (llama3, linear, GGUF per-frequency
    /// divisors); nil: none (or YaRN, ``yarn``).
    public var ropeScaling: RopeScaling?
    /// Biases on the q/k/v projections (Qwen2; Llama/Qwen3 with `attention_bias`).
    public var attentionQKVBias = false
    /// A bias on o_proj (Llama/Qwen3 with `attention_bias`).
    public var attentionOutputBias = false

    public init(
        architecture: Architecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
        numLayers: Int, numHeads: Int, numKVHeads: Int, headDim: Int, ropeTheta: Double,
        rmsNormEps: Float, maxPositionEmbeddings: Int, tieWordEmbeddings: Bool,
        bosTokenID: Int?, eosTokenIDs: [Int]
    ) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
    }

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }
    /// Tensors the KV cache keeps per token and layer: K and V, or one latent (whose first
    /// `kvLoraRank` values serve as the value).
    public var kvCacheParts: Int { latentAttention == nil ? 2 : 1 }
    /// Dimensions of each head that rotary rotates.
    public var rotaryDim: Int { latentAttention?.qkRopeHeadDim ?? headDim }
}
