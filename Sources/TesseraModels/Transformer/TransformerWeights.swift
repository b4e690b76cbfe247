import TesseraTensor

/// One decoder layer's weights on one rank, f32, Hugging Face layout (`[out, in]` row-major),
/// with the projections that read the same input fused so one GEMM computes them.
struct LayerWeights: @unchecked Sendable {
    let inputNorm: FloatStorage      // [hidden], replicated
    /// The rank's rows of q_proj, k_proj, v_proj stacked: `[(hq + 2 * hkv) * headDim, hidden]`
    /// for its `hq` query heads and `hkv` KV heads.
    let qkv: FloatStorage
    /// Qwen3 only: RMSNorm weights `[headDim]` applied to every query / key head (replicated).
    let qNorm: FloatStorage?
    let kNorm: FloatStorage?
    /// o_proj columns of the rank's query heads: `[hidden, hq * headDim]` (row-parallel).
    let output: FloatStorage
    let postNorm: FloatStorage       // [hidden], replicated
    /// The rank's slice of gate_proj and of up_proj stacked: `[2 * slice, hidden]`.
    let gateUp: FloatStorage
    /// down_proj columns of the rank's intermediate slice: `[hidden, slice]` (row-parallel).
    let down: FloatStorage
}

/// Every weight of a Llama-family or Qwen3 model that one rank holds (`RankShards`), loaded
/// shard by shard (a rank never reads the rest of a sharded matrix) and shape-checked.
struct TransformerWeights: @unchecked Sendable {
    /// Vocabulary rows `shards.vocab` of the embedding: `[shards.vocab.count, hidden]`.
    let embedding: FloatStorage
    let layers: [LayerWeights]
    let finalNorm: FloatStorage      // [hidden]
    /// The same vocabulary rows of `lm_head.weight`, or the embedding shard itself when the
    /// file has none (tied embeddings).
    let lmHead: FloatStorage

    init(config c: ModelConfig, source: any WeightSource, shards: RankShards) throws {
        let infos = source.tensorInfos
        /// The `rows` x `columns` part of tensor `name` of full shape `shape` (nil: all of them).
        func load(_ name: String, _ shape: [Int], rows: Range<Int>? = nil, columns: Range<Int>? = nil) throws -> [Float] {
            guard let info = infos[name] else { throw TransformerError.missingWeight(name) }
            guard info.shape == shape else {
                throw TransformerError.shapeMismatch(name: name, expected: shape, actual: info.shape)
            }
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
        if let bias = infos.keys.sorted().first(where: { $0.hasPrefix("model.layers.") && $0.hasSuffix(".bias") }) {
            throw TransformerError.invalidConfig("linear biases are not supported (found \(bias))")
        }

        let hd = c.headDim
        let queryRows = shards.queryHeads.lowerBound * hd..<shards.queryHeads.upperBound * hd
        let kvRows = shards.kvHeads.lowerBound * hd..<shards.kvHeads.upperBound * hd
        let slice = shards.intermediate
        embedding = FloatStorage(concatenating: [
            try load("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize], rows: shards.vocab),
        ])
        var layers: [LayerWeights] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            let qkv = FloatStorage(concatenating: [
                try load(p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize], rows: queryRows),
                try load(p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize], rows: kvRows),
                try load(p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize], rows: kvRows),
            ])
            var qNorm: FloatStorage?
            var kNorm: FloatStorage?
            if c.architecture == .qwen3 {
                qNorm = FloatStorage(concatenating: [try load(p + "self_attn.q_norm.weight", [hd])])
                kNorm = FloatStorage(concatenating: [try load(p + "self_attn.k_norm.weight", [hd])])
            }
            layers.append(LayerWeights(
                inputNorm: FloatStorage(concatenating: [try load(p + "input_layernorm.weight", [c.hiddenSize])]),
                qkv: qkv, qNorm: qNorm, kNorm: kNorm,
                output: FloatStorage(concatenating: [
                    try load(p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim], columns: queryRows),
                ]),
                postNorm: FloatStorage(concatenating: [
                    try load(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                ]),
                gateUp: FloatStorage(concatenating: [
                    try load(p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize], rows: slice),
                    try load(p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize], rows: slice),
                ]),
                down: FloatStorage(concatenating: [
                    try load(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize], columns: slice),
                ])
            ))
        }
        self.layers = layers
        finalNorm = FloatStorage(concatenating: [try load("model.norm.weight", [c.hiddenSize])])
        if infos["lm_head.weight"] != nil {
            lmHead = FloatStorage(concatenating: [
                try load("lm_head.weight", [c.vocabSize, c.hiddenSize], rows: shards.vocab),
            ])
        } else {
            // Tied embeddings; GGUF files of tied models simply have no output weight. The
            // vocabulary split is the same for both, so the shard is shared too.
            lmHead = embedding
        }
    }
}
