import Foundation

extension ModelConfig {
    /// A `deepseek_v2` / `deepseek_v3` config.json: latent attention, YaRN, mixture of experts.
    /// Hub configs name rope scaling `rope_scaling` (`type: yarn`); transformers 5 writes
    /// `rope_parameters` (`rope_type: yarn`); both are read. Defaults follow transformers'
    /// config classes (V2: softmax routing, greedy top-k, no renormalisation; V3: sigmoid with
    /// the correction bias, group top-k, renormalised).
    init(deepSeekJSON json: HFConfigJSON, modelType: String) throws {
        let file = json.file
        let isV3 = modelType == "deepseek_v3"
        if let activation = try json.optionalString("hidden_act"), activation != "silu" {
            throw ModelFileError.invalidConfig(file: file, field: "hidden_act", value: activation, reason: "only silu is supported")
        }
        if try json.optionalBool("attention_bias") == true {
            throw ModelFileError.unsupportedConfig(file: file, key: "attention_bias", value: "true", reason: "linear biases are not implemented")
        }
        let shape = LatentAttentionShape(
            qLoraRank: try json.optionalInt("q_lora_rank"), kvLoraRank: try json.int("kv_lora_rank"),
            qkNopeHeadDim: try json.int("qk_nope_head_dim"), qkRopeHeadDim: try json.int("qk_rope_head_dim"),
            vHeadDim: try json.int("v_head_dim"))
        let ropeParameters = json.object["rope_parameters"] as? [String: Any]
        var yarn: YaRNScaling?
        for (field, value) in [("rope_scaling", json.object["rope_scaling"]), ("rope_parameters", ropeParameters as Any?)] {
            guard let scaling = value as? [String: Any] else { continue }
            let type = (scaling["rope_type"] ?? scaling["type"]) as? String ?? "default"
            switch type {
            case "default": continue
            case "yarn":
                guard let factor = HFConfigJSON.double(scaling["factor"]),
                      let original = HFConfigJSON.exactInt(scaling["original_max_position_embeddings"]) else {
                    throw ModelFileError.invalidConfig(file: file, field: field, value: "\(scaling)",
                                                       reason: "yarn needs factor and original_max_position_embeddings")
                }
                yarn = YaRNScaling(
                    factor: factor, originalMaxPositions: original,
                    betaFast: HFConfigJSON.double(scaling["beta_fast"]) ?? 32, betaSlow: HFConfigJSON.double(scaling["beta_slow"]) ?? 1,
                    mscale: HFConfigJSON.double(scaling["mscale"]) ?? 1, mscaleAllDim: HFConfigJSON.double(scaling["mscale_all_dim"]) ?? 0,
                    truncate: scaling["truncate"] as? Bool ?? true)
            default:
                throw ModelFileError.invalidConfig(file: file, field: "\(field).rope_type", value: type,
                                                   reason: "DeepSeek models support yarn rope scaling only")
            }
        }
        var experts: MixtureOfExperts?
        if let count = try json.optionalInt("n_routed_experts") {
            let method = try json.optionalString("topk_method") ?? (isV3 ? "noaux_tc" : "greedy")
            let scoring = try json.optionalString("scoring_func") ?? (isV3 ? "sigmoid" : "softmax")
            guard let scoringKind = MixtureOfExperts.Scoring(rawValue: scoring) else {
                throw ModelFileError.unsupportedConfig(file: file, key: "scoring_func", value: scoring, reason: "only softmax and sigmoid are implemented")
            }
            guard ["greedy", "group_limited_greedy", "noaux_tc"].contains(method) else {
                throw ModelFileError.unsupportedConfig(file: file, key: "topk_method", value: method,
                                                       reason: "only greedy, group_limited_greedy and noaux_tc are implemented")
            }
            let grouped = method != "greedy"
            experts = MixtureOfExperts(
                numExperts: count, expertsPerToken: try json.int("num_experts_per_tok"),
                expertIntermediateSize: try json.int("moe_intermediate_size"),
                sharedExperts: try json.optionalInt("n_shared_experts") ?? 0,
                firstDenseLayers: try json.optionalInt("first_k_dense_replace") ?? 0,
                layerFrequency: try json.optionalInt("moe_layer_freq") ?? 1, scoring: scoringKind,
                groups: grouped ? try json.optionalInt("n_group") ?? 1 : 1,
                groupsPerToken: grouped ? try json.optionalInt("topk_group") ?? 1 : 1,
                normalizeTopK: try json.optionalBool("norm_topk_prob") ?? isV3,
                routedScalingFactor: Float(try json.optionalDouble("routed_scaling_factor") ?? (isV3 ? 2.5 : 1)))
        }
        let eos: [Int]
        switch json.object["eos_token_id"] {
        case nil, is NSNull: eos = []
        case let list as [Any]: eos = list.compactMap { HFConfigJSON.exactInt($0) }
        default: eos = [try json.int("eos_token_id")]
        }
        self.init(
            architecture: .deepseek2, vocabSize: try json.int("vocab_size"), hiddenSize: try json.int("hidden_size"),
            intermediateSize: try json.int("intermediate_size"), numLayers: try json.int("num_hidden_layers"),
            numHeads: try json.int("num_attention_heads"), numKVHeads: 1, headDim: shape.cacheWidth,
            ropeTheta: try json.optionalDouble("rope_theta") ?? ropeParameters.flatMap { HFConfigJSON.double($0["rope_theta"]) } ?? 10_000,
            rmsNormEps: Float(try json.optionalDouble("rms_norm_eps") ?? 1e-6),
            maxPositionEmbeddings: try json.optionalInt("max_position_embeddings") ?? 2048,
            tieWordEmbeddings: try json.optionalBool("tie_word_embeddings") ?? false,
            bosTokenID: try json.optionalInt("bos_token_id"), eosTokenIDs: eos)
        latentAttention = shape
        self.experts = experts
        self.yarn = yarn
        try validate(file: file, names: [
            .vocabSize: "vocab_size", .hiddenSize: "hidden_size", .intermediateSize: "intermediate_size",
            .numLayers: "num_hidden_layers", .numHeads: "num_attention_heads", .numKVHeads: "num_key_value_heads",
            .headDim: "kv_lora_rank + qk_rope_head_dim", .ropeTheta: "rope_theta", .rmsNormEps: "rms_norm_eps",
            .maxPositionEmbeddings: "max_position_embeddings", .bosTokenID: "bos_token_id", .eosTokenIDs: "eos_token_id",
        ])
        try validateDeepSeek(file: file)
    }

    /// Checks the latent-attention and expert settings fit together; errors name the key.
    func validateDeepSeek(file: String) throws {
        func fail(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .invalidConfig(file: file, field: key, value: "\(value)", reason: reason)
        }
        if let m = latentAttention {
            for (key, value) in [("kv_lora_rank", m.kvLoraRank), ("qk_nope_head_dim", m.qkNopeHeadDim),
                                 ("qk_rope_head_dim", m.qkRopeHeadDim), ("v_head_dim", m.vHeadDim)] where value <= 0 {
                throw fail(key, value, "must be positive")
            }
            if let q = m.qLoraRank, q <= 0 { throw fail("q_lora_rank", q, "must be positive or null") }
            guard m.qkRopeHeadDim % 2 == 0 else { throw fail("qk_rope_head_dim", m.qkRopeHeadDim, "rotary needs an even size") }
        }
        if let y = yarn {
            guard y.factor > 0, y.originalMaxPositions > 0 else { throw fail("rope_scaling", "\(y)", "factor and original length must be positive") }
        }
        if let e = experts {
            for (key, value) in [("n_routed_experts", e.numExperts), ("num_experts_per_tok", e.expertsPerToken),
                                 ("moe_intermediate_size", e.expertIntermediateSize), ("moe_layer_freq", e.layerFrequency),
                                 ("n_group", e.groups), ("topk_group", e.groupsPerToken)] where value <= 0 {
                throw fail(key, value, "must be positive")
            }
            guard e.expertsPerToken <= e.numExperts else {
                throw fail("num_experts_per_tok", e.expertsPerToken, "more than the \(e.numExperts) experts")
            }
            guard e.numExperts % e.groups == 0 else { throw fail("n_group", e.groups, "must divide the \(e.numExperts) experts") }
            guard e.groupsPerToken <= e.groups else { throw fail("topk_group", e.groupsPerToken, "more than the \(e.groups) groups") }
            guard e.groupsPerToken * (e.numExperts / e.groups) >= e.expertsPerToken else {
                throw fail("topk_group", e.groupsPerToken, "the kept groups hold fewer than num_experts_per_tok=\(e.expertsPerToken) experts")
            }
            if e.scoring == .sigmoid, e.groups > 1, e.numExperts / e.groups < 2 {
                throw fail("n_group", e.groups, "sigmoid group scores need at least two experts per group")
            }
            guard e.sharedExperts >= 0, e.firstDenseLayers >= 0 else {
                throw fail("n_shared_experts", e.sharedExperts, "must not be negative")
            }
        }
    }
}
