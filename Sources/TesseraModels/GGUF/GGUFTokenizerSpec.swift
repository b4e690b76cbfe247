import TesseraTokenizer

extension TokenizerSpec {
    /// llama.cpp's `tokenizer.ggml.pre` names and the pre-tokenizers they stand for.
    static let ggufPreTokenizers: [String: PreTokenizer] = [
        "gpt2": .gpt2, "smollm": .smollm, "qwen2": .qwen2, "llama-bpe": .llama3,
    ]

    /// The byte-level BPE tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// Only `tokenizer.ggml.model = "gpt2"` (byte-level BPE) is supported. Token types 3
    /// (control) become `specialTokenIDs`, 4 (user-defined) `addedTokenIDs`. `add_bos_token`
    /// and `add_eos_token` default to false, as llama.cpp does for gpt2-style vocabularies. No
    /// Unicode normalizer is set: neither llama.cpp nor transformers' GGUF loader applies one.
    public init(gguf file: GGUFFile) throws {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw ModelFileError.unsupportedTokenizer(file: file.path, key: "tokenizer.ggml.model", value: model)
        }
        let pre = try file.string("tokenizer.ggml.pre")
        guard let preTokenizer = Self.ggufPreTokenizers[pre] else {
            throw ModelFileError.unsupportedTokenizer(file: file.path, key: "tokenizer.ggml.pre", value: pre)
        }
        let tokens = try file.stringArray("tokenizer.ggml.tokens")
        let merges = try file.stringArray("tokenizer.ggml.merges")
        var special: Set<Int> = []
        var added: Set<Int> = []
        if file.metadata["tokenizer.ggml.token_type"] != nil {
            let types = try file.integerArray("tokenizer.ggml.token_type")
            guard types.count == tokens.count else {
                throw ModelFileError.invalidValue(
                    file: file.path, what: "tokenizer.ggml.token_type",
                    reason: "\(types.count) entries for \(tokens.count) tokens")
            }
            for (id, type) in types.enumerated() {
                if type == 3 { special.insert(id) } else if type == 4 { added.insert(id) }
            }
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = try file.optionalInt(key) else { return nil }
            guard tokens.indices.contains(id) else {
                throw ModelFileError.invalidConfig(
                    file: file.path, field: key, value: "\(id)", reason: "outside the vocabulary (size \(tokens.count))")
            }
            return id
        }
        let addEOS = try file.optionalBool("tokenizer.ggml.add_eos_token") ?? false
        self.init(
            tokens: tokens,
            merges: merges,
            specialTokenIDs: special,
            addedTokenIDs: added,
            preTokenizer: preTokenizer,
            bosTokenID: try tokenID("tokenizer.ggml.bos_token_id"),
            eosTokenID: try tokenID("tokenizer.ggml.eos_token_id"),
            addBOS: try file.optionalBool("tokenizer.ggml.add_bos_token") ?? false,
            chatTemplate: try file.optionalString("tokenizer.chat_template")
        )
        self.addEOS = addEOS
        // Llama 3 vocabularies skip the merges for words that are whole tokens (llama.cpp sets
        // ignore_merges for "llama-bpe"; the original tokenizer.json has `ignore_merges: true`).
        self.ignoreMerges = preTokenizer == .llama3
    }
}
