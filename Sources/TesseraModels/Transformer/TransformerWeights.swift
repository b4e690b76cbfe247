import TesseraTensor

/// One decoder layer's weights, f32, Hugging Face layout (`[out, in]` row-major), with the
/// projections that read the same input fused so one GEMM computes them.
struct LayerWeights: @unchecked Sendable {
    let inputNorm: FloatStorage      // [hidden]
    /// q_proj, k_proj, v_proj rows stacked: `[qDim + 2 * kvDim, hidden]`.
    let qkv: FloatStorage
    /// Qwen3 only: RMSNorm weights `[headDim]` applied to every query / key head.
    let qNorm: FloatStorage?
    let kNorm: FloatStorage?
    let output: FloatStorage         // o_proj [hidden, qDim]
    let postNorm: FloatStorage       // [hidden]
    /// gate_proj, up_proj rows stacked: `[2 * intermediate, hidden]`.
    let gateUp: FloatStorage
    let down: FloatStorage           // [hidden, intermediate]
}

/// Every weight of a Llama-family or Qwen3 model, loaded and shape-checked.
struct TransformerWeights: @unchecked Sendable {
    let embedding: FloatStorage      // [vocab, hidden]
    let layers: [LayerWeights]
    let finalNorm: FloatStorage      // [hidden]
    /// `lm_head.weight`, or the embedding itself when the file has none (tied embeddings).
    let lmHead: FloatStorage

    init(config c: ModelConfig, source: any WeightSource) throws {
        let infos = source.tensorInfos
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let info = infos[name] else { throw TransformerError.missingWeight(name) }
            guard info.shape == shape else {
                throw TransformerError.shapeMismatch(name: name, expected: shape, actual: info.shape)
            }
            let tensor = try source.load(name)
            guard tensor.shape == shape else {
                throw TransformerError.shapeMismatch(name: name, expected: shape, actual: tensor.shape)
            }
            return tensor.data
        }
        if let bias = infos.keys.sorted().first(where: { $0.hasPrefix("model.layers.") && $0.hasSuffix(".bias") }) {
            throw TransformerError.invalidConfig("linear biases are not supported (found \(bias))")
        }

        embedding = FloatStorage(concatenating: [try load("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])])
        var layers: [LayerWeights] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            let qkv = FloatStorage(concatenating: [
                try load(p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize]),
                try load(p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize]),
                try load(p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize]),
            ])
            var qNorm: FloatStorage?
            var kNorm: FloatStorage?
            if c.architecture == .qwen3 {
                qNorm = FloatStorage(concatenating: [try load(p + "self_attn.q_norm.weight", [c.headDim])])
                kNorm = FloatStorage(concatenating: [try load(p + "self_attn.k_norm.weight", [c.headDim])])
            }
            layers.append(LayerWeights(
                inputNorm: FloatStorage(concatenating: [try load(p + "input_layernorm.weight", [c.hiddenSize])]),
                qkv: qkv, qNorm: qNorm, kNorm: kNorm,
                output: FloatStorage(concatenating: [try load(p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim])]),
                postNorm: FloatStorage(concatenating: [
                    try load(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                ]),
                gateUp: FloatStorage(concatenating: [
                    try load(p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize]),
                    try load(p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize]),
                ]),
                down: FloatStorage(concatenating: [
                    try load(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize]),
                ])
            ))
        }
        self.layers = layers
        finalNorm = FloatStorage(concatenating: [try load("model.norm.weight", [c.hiddenSize])])
        if infos["lm_head.weight"] != nil {
            lmHead = FloatStorage(concatenating: [try load("lm_head.weight", [c.vocabSize, c.hiddenSize])])
        } else {
            // Tied embeddings; GGUF files of tied models simply have no output weight.
            lmHead = embedding
        }
    }
}
