/// The configuration values that are validated, so that errors can name the field as the
/// source file spells it (`llama.attention.head_count` in GGUF, `num_attention_heads` in
/// config.json).
enum ConfigField: Hashable {
    case vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKVHeads, headDim
    case ropeTheta, rmsNormEps, maxPositionEmbeddings, bosTokenID, eosTokenIDs
}

extension ModelConfig {
    /// Checks that every size is positive and the shapes fit together; throws
    /// `ModelFileError.invalidConfig` naming the field (via `names`) and its value.
    func validate(file: String, names: [ConfigField: String]) throws {
        func fail(_ field: ConfigField, _ value: Any, _ reason: String) -> ModelFileError {
            .invalidConfig(file: file, field: names[field] ?? "\(field)", value: "\(value)", reason: reason)
        }
        let positive: [(ConfigField, Int)] = [
            (.vocabSize, vocabSize), (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize),
            (.numLayers, numLayers), (.numHeads, numHeads), (.numKVHeads, numKVHeads), (.headDim, headDim),
            (.maxPositionEmbeddings, maxPositionEmbeddings),
        ]
        for (field, value) in positive where value <= 0 {
            throw fail(field, value, "must be positive")
        }
        guard numHeads % numKVHeads == 0 else {
            throw fail(.numKVHeads, numKVHeads, "the number of attention heads (\(numHeads)) must be a multiple of it")
        }
        guard headDim % 2 == 0 else {
            throw fail(.headDim, headDim, "rotary embeddings need an even head dimension")
        }
        guard ropeTheta.isFinite, ropeTheta > 0 else {
            throw fail(.ropeTheta, ropeTheta, "must be a positive finite number")
        }
        guard rmsNormEps.isFinite, rmsNormEps > 0 else {
            throw fail(.rmsNormEps, rmsNormEps, "must be a positive finite number")
        }
        if let bosTokenID, !(0..<vocabSize).contains(bosTokenID) {
            throw fail(.bosTokenID, bosTokenID, "outside the vocabulary (size \(vocabSize))")
        }
        for eos in eosTokenIDs where !(0..<vocabSize).contains(eos) {
            throw fail(.eosTokenIDs, eos, "outside the vocabulary (size \(vocabSize))")
        }
    }
}
