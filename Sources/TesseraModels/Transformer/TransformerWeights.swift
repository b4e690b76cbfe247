import TesseraTensor

/// One decoder layer's weights on one rank, Hugging Face layout (`[out, in]` row-major):
/// attention and feed-forward each in one of the forms the architectures use. Linear layers
/// are `WeightMatrix`es in the file's element type; norms and biases are f32.
struct LayerWeights: @unchecked Sendable {
    let inputNorm: FloatStorage      // [hidden], replicated
    let attention: LayerAttention
    let postNorm: FloatStorage       // [hidden], replicated
    let feedForward: FeedForward
}

enum LayerAttention {
    case grouped(GroupedAttentionWeights)
    case latent(LatentAttentionWeights)
}

enum FeedForward {
    case dense(DenseFeedForward)
    case experts(ExpertFeedForward)
}

/// Grouped-query attention (Llama, Qwen3), with the projections that read the same input
/// fused so one GEMM computes them.
struct GroupedAttentionWeights {
    /// The rank's rows of q_proj, k_proj, v_proj stacked: `[(hq + 2 * hkv) * headDim, hidden]`
    /// for its `hq` query heads and `hkv` KV heads.
    let qkv: WeightMatrix
    /// Qwen3 only: RMSNorm weights `[headDim]` applied to every query / key head (replicated).
    let qNorm: FloatStorage?
    let kNorm: FloatStorage?
    /// o_proj columns of the rank's query heads: `[hidden, hq * headDim]` (row-parallel).
    let output: WeightMatrix
    /// The rank's part of the q_proj, k_proj and v_proj biases, stacked like `qkv`'s rows:
    /// `[(hq + 2 * hkv) * headDim]` (Qwen2; Llama/Qwen3 with `attention_bias`); nil: none.
    let qkvBias: FloatStorage?
    /// The o_proj bias `[hidden]`, replicated: added once, after the sum over TP.
    let outputBias: FloatStorage?
}

/// A SwiGLU MLP's share on one rank: `width` columns of its intermediate dimension.
struct DenseFeedForward {
    let width: Int
    /// The rank's slice of gate_proj and of up_proj stacked: `[2 * width, hidden]`.
    let gateUp: WeightMatrix
    /// down_proj columns of the rank's intermediate slice: `[hidden, width]` (row-parallel).
    let down: WeightMatrix
}

/// Every weight of a model that one rank holds (`RankShards`), loaded shard by shard (a rank
/// never reads the rest of a sharded matrix) and shape-checked.
struct TransformerWeights: @unchecked Sendable {
    /// Vocabulary rows `shards.vocab` of the embedding: `[shards.vocab.count, hidden]`.
    let embedding: WeightMatrix
    let layers: [LayerWeights]
    let finalNorm: FloatStorage      // [hidden]
    /// The same vocabulary rows of `lm_head.weight`, or the embedding shard itself when the
    /// file has none (tied embeddings).
    let lmHead: WeightMatrix

    init(config c: ModelConfig, source: any WeightSource, shards: RankShards) throws {
        let w = WeightLoader(source: source)
        let expectedBiases = Set((0..<c.numLayers).flatMap { GroupedAttentionWeights.biasNames(c, prefix: "model.layers.\($0).") })
        if let bias = source.tensorInfos.keys.sorted().first(where: {
            $0.hasPrefix("model.layers.") && $0.hasSuffix(".bias") && !expectedBiases.contains($0)
        }) {
            throw TransformerError.invalidConfig("linear biases are not supported (found \(bias))")
        }
        embedding = try w.matrix("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize], rows: shards.vocab)
        var layers: [LayerWeights] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            let attention: LayerAttention = c.latentAttention != nil
                ? .latent(try LatentAttentionWeights(config: c, layer: i, loader: w, shards: shards))
                : .grouped(try GroupedAttentionWeights(config: c, prefix: p, loader: w, shards: shards))
            let feedForward: FeedForward
            if let experts = c.experts, experts.isExpertLayer(i) {
                feedForward = .experts(try ExpertFeedForward(config: c, experts: experts, layer: i, loader: w, shards: shards))
            } else {
                feedForward = .dense(try DenseFeedForward(
                    prefix: p + "mlp.", hidden: c.hiddenSize, intermediate: c.intermediateSize, slice: shards.intermediate, loader: w))
            }
            layers.append(LayerWeights(
                inputNorm: try w.storage(p + "input_layernorm.weight", [c.hiddenSize]),
                attention: attention,
                postNorm: try w.storage(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                feedForward: feedForward))
        }
        self.layers = layers
        finalNorm = try w.storage("model.norm.weight", [c.hiddenSize])
        if source.tensorInfos["lm_head.weight"] != nil {
            lmHead = try w.matrix("lm_head.weight", [c.vocabSize, c.hiddenSize], rows: shards.vocab)
        } else {
            // Tied embeddings; GGUF files of tied models simply have no output weight. The
            // vocabulary split is the same for both, so the shard is shared too.
            lmHead = embedding
        }
    }
}

extension GroupedAttentionWeights {
    init(config c: ModelConfig, prefix p: String, loader w: WeightLoader, shards: RankShards) throws {
        let hd = c.headDim
        let queryRows = shards.queryHeads.lowerBound * hd..<shards.queryHeads.upperBound * hd
        let kvRows = shards.kvHeads.lowerBound * hd..<shards.kvHeads.upperBound * hd
        qkv = WeightMatrix(stacking: [
            try w.matrix(p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize], rows: queryRows),
            try w.matrix(p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize], rows: kvRows),
            try w.matrix(p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize], rows: kvRows),
        ])
        if c.architecture == .qwen3 {
            qNorm = try w.storage(p + "self_attn.q_norm.weight", [hd])
            kNorm = try w.storage(p + "self_attn.k_norm.weight", [hd])
        } else {
            qNorm = nil
            kNorm = nil
        }
        output = try w.matrix(p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim], columns: queryRows)
        qkvBias = c.attentionQKVBias
            ? FloatStorage(concatenating: [
                try w.load(p + "self_attn.q_proj.bias", [c.qDim], rows: queryRows),
                try w.load(p + "self_attn.k_proj.bias", [c.kvDim], rows: kvRows),
                try w.load(p + "self_attn.v_proj.bias", [c.kvDim], rows: kvRows),
            ])
            : nil
        outputBias = c.attentionOutputBias ? try w.storage(p + "self_attn.o_proj.bias", [c.hiddenSize]) : nil
    }

    /// The Hugging Face names of the attention biases `c` has in the layer at `prefix`.
    static func biasNames(_ c: ModelConfig, prefix p: String) -> [String] {
        (c.attentionQKVBias ? ["q_proj", "k_proj", "v_proj"].map { p + "self_attn.\($0).bias" } : [])
            + (c.attentionOutputBias ? [p + "self_attn.o_proj.bias"] : [])
    }
}

extension DenseFeedForward {
    /// The `slice` of the MLP `prefix{gate,up,down}_proj` of intermediate size `intermediate`.
    init(prefix p: String, hidden: Int, intermediate: Int, slice: Range<Int>, loader w: WeightLoader) throws {
        width = slice.count
        gateUp = WeightMatrix(stacking: [
            try w.matrix(p + "gate_proj.weight", [intermediate, hidden], rows: slice),
            try w.matrix(p + "up_proj.weight", [intermediate, hidden], rows: slice),
        ])
        down = try w.matrix(p + "down_proj.weight", [hidden, intermediate], columns: slice)
    }
}

/// Shape-checked reads of (parts of) weights from a source; errors name the tensor.
struct WeightLoader {
    let source: any WeightSource

    func has(_ name: String) -> Bool { source.tensorInfos[name] != nil }

    /// The `rows` x `columns` part of tensor `name` of full shape `shape` (nil: all of them;
    /// columns index the flattened dimensions after the first).
    func load(_ name: String, _ shape: [Int], rows: Range<Int>? = nil, columns: Range<Int>? = nil) throws -> [Float] {
        try check(name, shape)
        let allRows = 0..<shape[0]
        let rows = rows ?? allRows
        let tensor: Tensor
        var expected = [rows.count] + shape.dropFirst()
        if let columns, columns != 0..<shape.dropFirst().reduce(1, *) {
            tensor = try source.load(name, rows: rows, columns: columns)
            expected = [rows.count, columns.count]
        } else if rows != allRows {
            tensor = try source.load(name, rows: rows)
        } else {
            tensor = try source.load(name)
        }
        guard tensor.shape == expected else {
            throw TransformerError.shapeMismatch(name: name, expected: expected, actual: tensor.shape)
        }
        return tensor.data
    }

    func storage(_ name: String, _ shape: [Int], rows: Range<Int>? = nil, columns: Range<Int>? = nil) throws -> FloatStorage {
        FloatStorage(concatenating: [try load(name, shape, rows: rows, columns: columns)])
    }

    /// The `rows` x `columns` part of the matrix `name` (`shape` `[out, in]`) as a linear layer's
    /// weight: in the file's element type when the source keeps it (`StoredWeightSource`), f32
    /// otherwise.
    func matrix(_ name: String, _ shape: [Int], rows: Range<Int>? = nil, columns: Range<Int>? = nil) throws -> WeightMatrix {
        try check(name, shape)
        let rows = rows ?? 0..<shape[0]
        let width = shape.dropFirst().reduce(1, *)
        let columns = columns == 0..<width ? nil : columns
        if let stored = source as? any StoredWeightSource,
           let matrix = try stored.stored(name, rows: rows, columns: columns) {
            return matrix
        }
        return WeightMatrix(floats: try load(name, shape, rows: rows, columns: columns), rows: rows.count,
                            columns: columns?.count ?? width)
    }

    /// Checks that the source has `name` with shape `shape`; a tensor the file has in an element
    /// type Tessera cannot read is named with its type (the source's own error on loading it).
    private func check(_ name: String, _ shape: [Int]) throws {
        guard let info = source.tensorInfos[name] else {
            if let reason = (source as? any StoredWeightSource)?.unloadableReason(name) { throw reason }
            throw TransformerError.missingWeight(name)
        }
        guard info.shape == shape else {
            throw TransformerError.shapeMismatch(name: name, expected: shape, actual: info.shape)
        }
    }
}

extension LayerWeights {
    /// The grouped-query attention weights, nil for latent attention.
    var grouped: GroupedAttentionWeights? {
        if case .grouped(let weights) = attention { weights } else { nil }
    }

    /// The dense MLP weights, nil for a mixture of experts.
    var dense: DenseFeedForward? {
        if case .dense(let weights) = feedForward { weights } else { nil }
    }
}
