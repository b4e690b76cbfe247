extension ModelConfig {
    /// The configuration stored in a GGUF file's metadata (`<arch>.block_count`, ...).
    ///
    /// `head_dim` is `<arch>.attention.key_length` when present, else embedding / heads; the
    /// vocabulary size is the length of `tokenizer.ggml.tokens`; embeddings are tied exactly
    /// when the file has no `output.weight`.
    public init(gguf file: GGUFFile) throws {
        let arch = try file.architectureName()
        if arch == Architecture.deepseek2.rawValue {
            try self.init(deepSeekGGUF: file)
            return
        }
        guard let architecture = Architecture(rawValue: arch) else {
            throw ModelFileError.unsupportedArchitecture(file: file.path, architecture: arch)
        }
        func key(_ suffix: String) -> String { "\(arch).\(suffix)" }

        let hidden = try file.int(key("embedding_length"))
        let heads = try file.int(key("attention.head_count"))
        let vocab: Int
        if let tokens = file.metadata["tokenizer.ggml.tokens"]?.arrayValue {
            vocab = tokens.count
        } else if let size = try file.optionalInt(key("vocab_size")) {
            vocab = size
        } else if let embedding = file.tensor(named: "token_embd.weight") {
            vocab = embedding.shape[0]
        } else {
            throw ModelFileError.missingMetadata(file: file.path, key: "tokenizer.ggml.tokens")
        }
        var eos: [Int] = []
        for name in ["eos_token_id", "eot_token_id", "eom_token_id"] {
            if let id = try file.optionalInt("tokenizer.ggml.\(name)"), !eos.contains(id) { eos.append(id) }
        }

        self.init(
            architecture: architecture,
            vocabSize: vocab,
            hiddenSize: hidden,
            intermediateSize: try file.int(key("feed_forward_length")),
            numLayers: try file.int(key("block_count")),
            numHeads: heads,
            numKVHeads: try file.optionalInt(key("attention.head_count_kv")) ?? heads,
            headDim: try file.optionalInt(key("attention.key_length")) ?? (heads > 0 ? hidden / heads : 0),
            ropeTheta: try file.optionalDouble(key("rope.freq_base")) ?? 10_000,
            rmsNormEps: Float(try file.double(key("attention.layer_norm_rms_epsilon"))),
            maxPositionEmbeddings: try file.int(key("context_length")),
            tieWordEmbeddings: file.tensor(named: "output.weight") == nil,
            bosTokenID: try file.optionalInt("tokenizer.ggml.bos_token_id"),
            eosTokenIDs: eos
        )
        try validate(file: file.path, names: [
            .vocabSize: "tokenizer.ggml.tokens (count)", .hiddenSize: key("embedding_length"),
            .intermediateSize: key("feed_forward_length"), .numLayers: key("block_count"),
            .numHeads: key("attention.head_count"), .numKVHeads: key("attention.head_count_kv"),
            .headDim: key("attention.key_length"), .ropeTheta: key("rope.freq_base"),
            .rmsNormEps: key("attention.layer_norm_rms_epsilon"), .maxPositionEmbeddings: key("context_length"),
            .bosTokenID: "tokenizer.ggml.bos_token_id", .eosTokenIDs: "tokenizer.ggml.eos_token_id",
        ])
        try readRopeScaling(file, key: key)
        // Biases are as the file has them (llama.cpp loads them when present): q/k/v together,
        // o_proj on its own. A partial set is refused when the weights are loaded.
        attentionQKVBias = file.tensor(named: "blk.0.attn_q.bias") != nil
        attentionOutputBias = file.tensor(named: "blk.0.attn_output.bias") != nil
        // 0 means no window; one at least the context length never hides a key (see `maxModelLen`).
        // (llama.cpp's converter writes no window for Mistral: such files run full attention,
        // as in llama.cpp.)
        if let window = try file.optionalInt(key("attention.sliding_window")), window > 0, window < maxPositionEmbeddings {
            slidingWindow = window
        }
        try refuseUnimplemented(file, key: key)
    }

    /// Rope scaling as llama.cpp reads it: `rope.scaling.type` linear (frequencies divided by
    /// `rope.scaling.factor`) or yarn (`factor`, `original_context_length`, `yarn_beta_fast`,
    /// `yarn_beta_slow`); a factor without a type (`rope.scaling.factor` or the older
    /// `rope.scale_linear`) is linear; 0 and 1 mean none. Llama 3.1+ files instead carry
    /// `rope_freqs.weight`, one divisor per frequency, written by the converter from the
    /// llama3 parameters.
    private mutating func readRopeScaling(_ file: GGUFFile, key: (String) -> String) throws {
        func refuse(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .unsupportedConfig(file: file.path, key: key, value: "\(value)", reason: reason)
        }
        let type = try file.optionalString(key("rope.scaling.type"))
        var factorKey = key("rope.scaling.factor")
        var factor = try file.optionalDouble(factorKey)
        if factor == nil {
            factorKey = key("rope.scale_linear")
            factor = try file.optionalDouble(factorKey)
        }
        switch type {
        case "none"?:
            break
        case nil, "linear"?:
            if let factor, factor != 0, factor != 1 { ropeScaling = .linear(factor: factor) }
        case "yarn"?:
            var y = YaRNScaling(factor: try file.double(key("rope.scaling.factor")),
                                originalMaxPositions: try file.int(key("rope.scaling.original_context_length")))
            if let fast = try file.optionalDouble(key("rope.scaling.yarn_beta_fast")), fast != 0 { y.betaFast = fast }
            if let slow = try file.optionalDouble(key("rope.scaling.yarn_beta_slow")), slow != 0 { y.betaSlow = slow }
            // llama.cpp scales the cosines and sines by 0.1 ln(factor) + 1 (YaRNScaling's default);
            // other multipliers change that and are not implemented.
            if let multiplier = try file.optionalDouble(key("rope.scaling.yarn_log_multiplier")), multiplier != 0 {
                throw refuse(key("rope.scaling.yarn_log_multiplier"), multiplier, "YaRN log multipliers are implemented for deepseek2 only")
            }
            if let attention = try file.optionalDouble(key("rope.scaling.yarn_attn_factor")), attention != 1 {
                throw refuse(key("rope.scaling.yarn_attn_factor"), attention, "a YaRN attention factor other than 1 is not implemented")
            }
            if let ext = try file.optionalDouble(key("rope.scaling.yarn_ext_factor")), ext != 1, ext >= 0 {
                throw refuse(key("rope.scaling.yarn_ext_factor"), ext, "a YaRN extrapolation mix other than 1 is not implemented")
            }
            yarn = y
        case let other?:
            throw refuse(key("rope.scaling.type"), other, "only none, linear and yarn rope scaling are implemented")
        }
        if let freqs = file.tensor(named: "rope_freqs.weight") {
            if ropeScaling != nil || yarn != nil {
                throw refuse("rope_freqs.weight", "present", "per-frequency divisors together with \(type ?? "linear") scaling are not implemented")
            }
            guard freqs.dimensions.count == 1 else {
                throw ModelFileError.invalidShape(file: file.path, tensor: freqs.name, shape: freqs.dimensions.map(UInt64.init),
                                                  reason: "expected one divisor per rotary frequency (\(rotaryDim / 2))")
            }
            ropeScaling = .frequencyDivisors(try file.floats("rope_freqs.weight"))
        }
        if case .frequencyDivisors? = ropeScaling { factorKey = "rope_freqs.weight" }
        try validateRopeScaling(file: file.path, field: factorKey)
    }

    /// Refuses, by key, GGUF metadata that changes the model's math but that Tessera does not
    /// implement (the keys llama.cpp reads for them), so such a file fails to open instead of
    /// running silently wrong. Absent keys and neutral values are accepted. Rope scaling, biases
    /// and the sliding window are read above.
    private func refuseUnimplemented(_ file: GGUFFile, key: (String) -> String) throws {
        func refuse(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .unsupportedConfig(file: file.path, key: key, value: "\(value)", reason: reason)
        }
        for name in ["attn_logit_softcapping", "final_logit_softcapping"] {
            if let cap = try file.optionalDouble(key(name)), cap != 0 {
                throw refuse(key(name), cap, "logit soft-capping is not implemented")
            }
        }
        // llama.cpp rotates only the first `rope.dimension_count` dimensions of each head.
        if let rotated = try file.optionalInt(key("rope.dimension_count")), rotated != headDim {
            throw refuse(key("rope.dimension_count"), rotated, "partial rotary embeddings are not implemented (head dimension \(headDim))")
        }
        if try file.optionalBool(key("attention.causal")) == false {
            throw refuse(key("attention.causal"), false, "only causal attention is implemented")
        }
    }
}
