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

        if let scaling = try file.optionalString(key("rope.scaling.type")), scaling != "none" {
            throw ModelFileError.invalidConfig(
                file: file.path, field: key("rope.scaling.type"), value: scaling, reason: "rope scaling is not supported")
        }
        if file.tensor(named: "rope_freqs.weight") != nil {
            throw ModelFileError.invalidConfig(
                file: file.path, field: "rope_freqs.weight", value: "present",
                reason: "per-frequency rope scaling (Llama 3.1 style) is not supported")
        }

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
        try refuseUnimplemented(file, key: key)
    }

    /// Refuses, by key, GGUF metadata that changes the model's math but that Tessera does not
    /// implement (the keys llama.cpp reads for them), so such a file fails to open instead of
    /// running silently wrong. Absent keys and neutral values are accepted. Bias tensors are
    /// refused when the weights are loaded; `rope.scaling.type` is checked above.
    private func refuseUnimplemented(_ file: GGUFFile, key: (String) -> String) throws {
        func refuse(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .unsupportedConfig(file: file.path, key: key, value: "\(value)", reason: reason)
        }
        // 0 means no window; one at least the context length never hides a key (see `maxModelLen`).
        if let window = try file.optionalInt(key("attention.sliding_window")), window > 0, window < maxPositionEmbeddings {
            throw refuse(key("attention.sliding_window"), window, "sliding-window attention is not implemented")
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
        // Without `rope.scaling.type`, llama.cpp applies a factor as linear scaling; 0 and 1 mean none.
        if try file.optionalString(key("rope.scaling.type")) != "none" {
            for name in ["rope.scaling.factor", "rope.scale_linear"] {
                if let factor = try file.optionalDouble(key(name)), factor != 0, factor != 1 {
                    throw refuse(key(name), factor, "rope scaling is not implemented")
                }
            }
        }
        if try file.optionalBool(key("attention.causal")) == false {
            throw refuse(key("attention.causal"), false, "only causal attention is implemented")
        }
    }
}
