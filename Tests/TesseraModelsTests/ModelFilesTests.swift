import Foundation
import TestSupport
import Testing
@testable import TesseraModels

@Suite struct ModelFilesTests {
    @Test func opensTheSmolLM2GGUF() throws {
        let model = try ModelFiles.open(Fixtures.smolLM2())
        #expect(model.config.numLayers == 30)
        #expect(model.weights is GGUFWeightSource)
        #expect(model.weights.tensorInfos.count == 272)
        #expect(model.tokenizerSpec?.tokens.count == 49152)
        #expect(model.tokenizerJSONURL == nil)
        let norm = try model.weights.load("model.layers.0.input_layernorm.weight")
        #expect(norm.shape == [576])
    }

    @Test func opensHuggingFaceFolders() throws {
        let llama = try ModelFiles.open(Fixtures.url("models/tiny-llama"))
        #expect(llama.config == ModelConfig(
            architecture: .llama, vocabSize: 1000, hiddenSize: 64, intermediateSize: 128, numLayers: 2,
            numHeads: 8, numKVHeads: 2, headDim: 8, ropeTheta: 10_000, rmsNormEps: 1e-5,
            maxPositionEmbeddings: 512, tieWordEmbeddings: false, bosTokenID: nil, eosTokenIDs: [2]))
        #expect(llama.tokenizerSpec == nil)
        #expect(llama.tokenizerJSONURL?.lastPathComponent == "tokenizer.json")
        #expect(llama.tokenizerConfigURL?.lastPathComponent == "tokenizer_config.json")
        #expect(llama.weights.tensorInfos["lm_head.weight"] != nil)

        let qwen = try ModelFiles.open(Fixtures.url("models/tiny-qwen3"))
        #expect(qwen.config.architecture == .qwen3)
        #expect(qwen.config.headDim == 16)
        #expect(qwen.config.numKVHeads == 1)
        #expect(qwen.config.ropeTheta == 1_000_000)   // from rope_parameters
        #expect(qwen.config.tieWordEmbeddings)

        let sharded = try ModelFiles.open(Fixtures.url("models/tiny-llama-1kv"))
        #expect(sharded.config.numLayers == 3)
        #expect(try sharded.weights.load("lm_head.weight").shape == [1000, 64])
    }

    @Test func missingPathsAreNamed() throws {
        let nowhere = URL(fileURLWithPath: "/nonexistent/tessera/model.gguf")
        var error = try #require(throws: ModelFileError.self) { try ModelFiles.open(nowhere) }
        #expect(error.description == "/nonexistent/tessera/model.gguf: model file or folder not found")

        let folder = try TestGGUF.write([], name: "placeholder").deletingLastPathComponent()
        error = try #require(throws: ModelFileError.self) { try ModelFiles.open(folder) }
        #expect(error.description.contains(folder.appendingPathComponent("config.json").path))
        #expect(error.description.contains("config.json not found"))

        let config = try Data(contentsOf: Fixtures.url("models/tiny-llama/config.json"))
        try config.write(to: folder.appendingPathComponent("config.json"))
        error = try #require(throws: ModelFileError.self) { try ModelFiles.open(folder) }
        #expect(error.description.contains("model.safetensors or model.safetensors.index.json not found"))
    }

    @Test func notAGGUFFile() throws {
        let url = try TestGGUF.write(Array("{\"hello\": 1}".utf8), name: "config.json")
        let error = try #require(throws: ModelFileError.self) { try ModelFiles.open(url) }
        #expect(error.description.contains("bad magic"))
    }

    // MARK: - config.json parsing

    private func config(_ json: String) throws -> ModelConfig {
        try ModelConfig(huggingFaceConfigJSON: Data(json.utf8), file: "config.json")
    }

    private func configError(_ json: String) throws -> String {
        try #require(throws: ModelFileError.self) { try config(json) }.description
    }

    static let base = """
        "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4
        """

    @Test func huggingFaceDefaultsAndVariants() throws {
        var c = try config(#"{"model_type": "mistral", \#(Self.base), "eos_token_id": [2, 7], "rope_theta": 500000}"#)
        #expect(c.architecture == .llama)
        #expect(c.numKVHeads == 4)
        #expect(c.headDim == 8)
        #expect(c.eosTokenIDs == [2, 7])
        #expect(c.ropeTheta == 500_000)
        #expect(!c.tieWordEmbeddings)
        #expect(c.bosTokenID == nil)

        c = try config(#"{"model_type": "qwen3", \#(Self.base), "num_key_value_heads": 2, "head_dim": 16, "tie_word_embeddings": true, "rms_norm_eps": 1e-06, "bos_token_id": 1, "eos_token_id": null, "rope_scaling": null}"#)
        #expect(c.architecture == .qwen3)
        #expect(c.headDim == 16)
        #expect(c.qDim == 64)
        #expect(c.tieWordEmbeddings)
        #expect(c.rmsNormEps == 1e-6)
        #expect(c.bosTokenID == 1)
        #expect(c.eosTokenIDs.isEmpty)
    }

    @Test func huggingFaceErrorsNameFieldAndValue() throws {
        #expect(try configError(#"{"model_type": "gpt2", \#(Self.base)}"#) == "config.json: unsupported architecture 'gpt2' (supported: llama, mistral, qwen2, qwen3, deepseek_v2, deepseek_v3; GGUF: llama, qwen2, qwen3, deepseek2)")
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "num_key_value_heads": 3}"#)
            .contains("invalid num_key_value_heads = 3: the number of attention heads (4) must be a multiple of it"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "head_dim": 0}"#).contains("invalid head_dim = 0: must be positive"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "eos_token_id": 100}"#).contains("invalid eos_token_id = 100: outside the vocabulary"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "hidden_act": "gelu"}"#).contains("invalid hidden_act = gelu"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}"#)
            .contains("missing required field 'rope_scaling.low_freq_factor'"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "rope_theta": "big"}"#).contains("invalid rope_theta = big: expected a number"))
        #expect(try configError(#"{"model_type": "llama", "hidden_size": 32}"#).contains("config.json: missing required field 'num_attention_heads'"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "num_hidden_layers": 2.5}"#).contains("invalid num_hidden_layers = 2.5: expected an integer"))
        #expect(try configError(#"{"model_type": "llama", \#(Self.base), "tie_word_embeddings": 1}"#).contains("expected true or false"))
        #expect(try configError("[]").contains("the top level is not an object"))
    }
}
