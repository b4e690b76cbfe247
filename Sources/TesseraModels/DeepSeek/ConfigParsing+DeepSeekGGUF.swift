extension ModelConfig {
    /// The configuration of a GGUF file of llama.cpp's `deepseek2` architecture (DeepSeek-V2/V3,
    /// Kimi K2). Older files report `attention.key_length` = nope + rope and `value_length` =
    /// v_head_dim; newer ones (split `attn_k_b` / `attn_v_b`) move those to `key_length_mla` /
    /// `value_length_mla`. YaRN's `mscale_all_dim` is `rope.scaling.yarn_log_multiplier / 0.1`
    /// (what the converter stores), and `mscale` is taken equal to it, as in every released
    /// DeepSeek config. Layers are MoE from `leading_dense_block_count` on.
    init(deepSeekGGUF file: GGUFFile) throws {
        func key(_ suffix: String) -> String { "deepseek2.\(suffix)" }
        let rope = try file.int(key("rope.dimension_count"))
        let keyLength = try file.optionalInt(key("attention.key_length_mla")) ?? file.int(key("attention.key_length"))
        let valueLength = try file.optionalInt(key("attention.value_length_mla")) ?? file.int(key("attention.value_length"))
        let qLora = try file.optionalInt(key("attention.q_lora_rank")) ?? 0
        let shape = LatentAttentionShape(
            qLoraRank: qLora > 0 ? qLora : nil, kvLoraRank: try file.int(key("attention.kv_lora_rank")),
            qkNopeHeadDim: keyLength - rope, qkRopeHeadDim: rope, vHeadDim: valueLength)
        var yarn: YaRNScaling?
        switch try file.optionalString(key("rope.scaling.type")) {
        case nil, "none": break
        case "yarn":
            let multiplier = try file.optionalDouble(key("rope.scaling.yarn_log_multiplier")) ?? 0
            yarn = YaRNScaling(
                factor: try file.double(key("rope.scaling.factor")),
                originalMaxPositions: try file.int(key("rope.scaling.original_context_length")),
                betaFast: try file.optionalDouble(key("rope.scaling.yarn_beta_fast")) ?? 32,
                betaSlow: try file.optionalDouble(key("rope.scaling.yarn_beta_slow")) ?? 1,
                mscale: multiplier / 0.1, mscaleAllDim: multiplier / 0.1)
        case let other?:
            throw ModelFileError.invalidConfig(file: file.path, field: key("rope.scaling.type"), value: other,
                                               reason: "DeepSeek models support yarn rope scaling only")
        }
        var experts: MixtureOfExperts?
        if let count = try file.optionalInt(key("expert_count")), count > 0 {
            let gating = try file.optionalInt(key("expert_gating_func")) ?? 1
            guard gating == 1 || gating == 2 else {
                throw ModelFileError.unsupportedConfig(file: file.path, key: key("expert_gating_func"), value: "\(gating)",
                                                       reason: "only 1 (softmax) and 2 (sigmoid) are implemented")
            }
            let groups = try file.optionalInt(key("expert_group_count")) ?? 1
            experts = MixtureOfExperts(
                numExperts: count, expertsPerToken: try file.int(key("expert_used_count")),
                expertIntermediateSize: try file.int(key("expert_feed_forward_length")),
                sharedExperts: try file.optionalInt(key("expert_shared_count")) ?? 0,
                firstDenseLayers: try file.optionalInt(key("leading_dense_block_count")) ?? 0, layerFrequency: 1,
                scoring: gating == 2 ? .sigmoid : .softmax, groups: max(1, groups),
                groupsPerToken: groups > 1 ? try file.optionalInt(key("expert_group_used_count")) ?? groups : 1,
                normalizeTopK: try file.optionalBool(key("expert_weights_norm")) ?? false,
                routedScalingFactor: Float(try file.optionalDouble(key("expert_weights_scale")) ?? 1))
        }
        let vocab = try file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count ?? file.int(key("vocab_size"))
        var eos: [Int] = []
        for name in ["eos_token_id", "eot_token_id", "eom_token_id"] {
            if let id = try file.optionalInt("tokenizer.ggml.\(name)"), !eos.contains(id) { eos.append(id) }
        }
        self.init(
            architecture: .deepseek2, vocabSize: vocab, hiddenSize: try file.int(key("embedding_length")),
            intermediateSize: try file.int(key("feed_forward_length")), numLayers: try file.int(key("block_count")),
            numHeads: try file.int(key("attention.head_count")), numKVHeads: 1, headDim: shape.cacheWidth,
            ropeTheta: try file.optionalDouble(key("rope.freq_base")) ?? 10_000,
            rmsNormEps: Float(try file.double(key("attention.layer_norm_rms_epsilon"))),
            maxPositionEmbeddings: try file.int(key("context_length")),
            tieWordEmbeddings: file.tensor(named: "output.weight") == nil,
            bosTokenID: try file.optionalInt("tokenizer.ggml.bos_token_id"), eosTokenIDs: eos)
        latentAttention = shape
        self.experts = experts
        self.yarn = yarn
        try validate(file: file.path, names: [
            .vocabSize: "tokenizer.ggml.tokens (count)", .hiddenSize: key("embedding_length"),
            .intermediateSize: key("feed_forward_length"), .numLayers: key("block_count"),
            .numHeads: key("attention.head_count"), .headDim: key("attention.kv_lora_rank") + " + rope",
            .ropeTheta: key("rope.freq_base"), .rmsNormEps: key("attention.layer_norm_rms_epsilon"),
            .maxPositionEmbeddings: key("context_length"), .bosTokenID: "tokenizer.ggml.bos_token_id",
            .eosTokenIDs: "tokenizer.ggml.eos_token_id",
        ])
        try validateDeepSeek(file: file.path)
    }
}
