import Foundation
import TestSupport
import Testing
@testable import TesseraModels

/// Config keys that change the math but are not implemented are refused by name when a model
/// is opened; absent, null and neutral values still load.
@Suite struct UnsupportedConfigTests {
    // MARK: - config.json

    private func config(_ json: String) throws -> ModelConfig {
        try ModelConfig(huggingFaceConfigJSON: Data(json.utf8), file: "config.json")
    }

    /// The error for a config.json, which must be `unsupportedConfig` naming `key`.
    private func refusal(_ json: String, key: String) throws -> String {
        let error = try #require(throws: ModelFileError.self) { try config(json) }
        guard case .unsupportedConfig(_, let refusedKey, _, _) = error else {
            Issue.record("expected unsupportedConfig for \(key), got \(error)")
            return error.description
        }
        #expect(refusedKey == key)
        return error.description
    }

    /// Sizes shared by every config below; `max_position_embeddings` is 512.
    static let base = """
        "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 512
        """

    @Test func mistralSlidingWindowIsRefused() throws {
        let message = try refusal(#"{"model_type": "mistral", \#(Self.base), "sliding_window": 8}"#, key: "sliding_window")
        #expect(message == "config.json: unsupported sliding_window = 8: sliding-window attention is not implemented")
        // Mistral has no use_sliding_window switch: transformers applies the window regardless.
        _ = try refusal(#"{"model_type": "mistral", \#(Self.base), "sliding_window": 8, "use_sliding_window": false}"#, key: "sliding_window")
        _ = try refusal(#"{"model_type": "llama", \#(Self.base), "sliding_window": 256}"#, key: "sliding_window")
    }

    @Test func neutralSlidingWindowsLoad() throws {
        #expect(try config(#"{"model_type": "mistral", \#(Self.base), "sliding_window": null}"#).architecture == .llama)
        // A window as long as the model's maximum context never hides a key.
        #expect(try config(#"{"model_type": "mistral", \#(Self.base), "sliding_window": 512}"#).architecture == .llama)
        // Qwen3 configs ship a window with use_sliding_window false (or absent: transformers' default).
        #expect(try config(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": 8, "use_sliding_window": false, "max_window_layers": 28}"#).architecture == .qwen3)
        #expect(try config(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": 8}"#).architecture == .qwen3)
        #expect(try config(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": null, "use_sliding_window": false, "layer_types": ["full_attention", "full_attention"]}"#).architecture == .qwen3)
    }

    @Test func qwen3WithSlidingWindowOnIsRefused() throws {
        _ = try refusal(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": 8, "use_sliding_window": true}"#, key: "sliding_window")
        let message = try refusal(#"{"model_type": "qwen3", \#(Self.base), "layer_types": ["full_attention", "sliding_attention"]}"#, key: "layer_types")
        #expect(message.contains("layer_types = sliding_attention"))
    }

    @Test func linearBiasesAreRefused() throws {
        for key in ["attention_bias", "mlp_bias"] {
            let message = try refusal(#"{"model_type": "llama", \#(Self.base), "\#(key)": true}"#, key: key)
            #expect(message == "config.json: unsupported \(key) = true: linear biases are not implemented")
            #expect(try config(#"{"model_type": "llama", \#(Self.base), "\#(key)": false}"#).architecture == .llama)
        }
    }

    @Test func logitSoftCappingIsRefused() throws {
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
            let message = try refusal(#"{"model_type": "llama", \#(Self.base), "\#(key)": 30.0}"#, key: key)
            #expect(message.contains("unsupported \(key) = 30.0: logit soft-capping is not implemented"))
            #expect(try config(#"{"model_type": "llama", \#(Self.base), "\#(key)": null}"#).architecture == .llama)
        }
    }

    @Test func partialRotaryIsRefused() throws {
        let message = try refusal(#"{"model_type": "llama", \#(Self.base), "partial_rotary_factor": 0.5}"#, key: "partial_rotary_factor")
        #expect(message.contains("partial_rotary_factor = 0.5: partial rotary embeddings are not implemented"))
        _ = try refusal(#"{"model_type": "qwen3", \#(Self.base), "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}}"#,
                        key: "rope_parameters.partial_rotary_factor")
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "partial_rotary_factor": 1.0}"#).architecture == .llama)
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "rope_parameters": {"rope_type": "default", "partial_rotary_factor": 1}}"#).architecture == .llama)
    }

    @Test func ropeScalingIsRefusedUnlessDefault() throws {
        // Only plain rotary is implemented (no llama3 / linear / yarn frequencies).
        for type in ["llama3", "linear", "yarn", "dynamic"] {
            let error = try #require(throws: ModelFileError.self) {
                try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "\#(type)", "factor": 8.0}}"#)
            }
            #expect(error.description.contains("rope_scaling.rope_type = \(type)"))
        }
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": null}"#).architecture == .llama)
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "default"}}"#).architecture == .llama)
    }

    /// A Qwen3-style config with every neutral value a shipped config carries still loads.
    @Test func shippedStyleNeutralConfigLoads() throws {
        let c = try config(#"""
            {"model_type": "qwen3", \#(Self.base), "attention_bias": false, "mlp_bias": false,
             "sliding_window": null, "use_sliding_window": false, "rope_scaling": null,
             "final_logit_softcapping": null, "attn_logit_softcapping": null,
             "layer_types": ["full_attention", "full_attention"],
             "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}}
            """#)
        #expect(c.ropeTheta == 1_000_000)
    }

    @Test func fixtureModelsStillOpen() throws {
        for name in ["tiny-llama", "tiny-llama-1kv", "tiny-qwen3"] {
            _ = try ModelFiles.open(Fixtures.url("models/\(name)"))
        }
    }

    // MARK: - GGUF metadata

    private func ggufRefusal(_ metadata: [(String, GGUFValue)], key: String) throws -> String {
        var builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8)
        for (name, value) in metadata { builder.set(name, value) }
        let url = try TestGGUF.write(builder.build().bytes)
        defer { TestGGUF.remove(url) }
        let error = try #require(throws: ModelFileError.self) { try ModelConfig(gguf: GGUFFile(url: url)) }
        guard case .unsupportedConfig(_, let refusedKey, _, _) = error else {
            Issue.record("expected unsupportedConfig for \(key), got \(error)")
            return error.description
        }
        #expect(refusedKey == key)
        return error.description
    }

    private func ggufLoads(_ metadata: [(String, GGUFValue)]) throws -> ModelConfig {
        var builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8)
        for (name, value) in metadata { builder.set(name, value) }
        let url = try TestGGUF.write(builder.build().bytes)
        defer { TestGGUF.remove(url) }
        return try ModelConfig(gguf: GGUFFile(url: url))
    }

    @Test func ggufSlidingWindowIsRefused() throws {
        let message = try ggufRefusal([("llama.attention.sliding_window", .uint32(8))], key: "llama.attention.sliding_window")
        #expect(message.hasSuffix("unsupported llama.attention.sliding_window = 8: sliding-window attention is not implemented"))
        // 0 means none, and a window of the whole context (128 here) hides nothing.
        #expect(try ggufLoads([("llama.attention.sliding_window", .uint32(0))]).numLayers == 1)
        #expect(try ggufLoads([("llama.attention.sliding_window", .uint32(128))]).numLayers == 1)
    }

    @Test func ggufSoftCappingIsRefused() throws {
        for name in ["llama.attn_logit_softcapping", "llama.final_logit_softcapping"] {
            let message = try ggufRefusal([(name, .float32(50))], key: name)
            #expect(message.contains("\(name) = 50.0: logit soft-capping is not implemented"))
            #expect(try ggufLoads([(name, .float32(0))]).numLayers == 1)
        }
    }

    @Test func ggufPartialRotaryIsRefused() throws {
        // head_dim is 8 / 2 = 4.
        let message = try ggufRefusal([("llama.rope.dimension_count", .uint32(2))], key: "llama.rope.dimension_count")
        #expect(message.contains("llama.rope.dimension_count = 2: partial rotary embeddings are not implemented (head dimension 4)"))
        #expect(try ggufLoads([("llama.rope.dimension_count", .uint32(4))]).headDim == 4)
    }

    @Test func ggufRopeScalingIsRefused() throws {
        let typed = try #require(throws: ModelFileError.self) {
            try ggufLoads([("llama.rope.scaling.type", .string("yarn")), ("llama.rope.scaling.factor", .float32(4))])
        }
        #expect(typed.description.contains("llama.rope.scaling.type = yarn"))
        // A factor without a type is linear scaling in llama.cpp.
        _ = try ggufRefusal([("llama.rope.scaling.factor", .float32(4))], key: "llama.rope.scaling.factor")
        _ = try ggufRefusal([("llama.rope.scale_linear", .float32(2))], key: "llama.rope.scale_linear")
        #expect(try ggufLoads([("llama.rope.scaling.factor", .float32(1))]).numLayers == 1)
        #expect(try ggufLoads([("llama.rope.scaling.type", .string("none")), ("llama.rope.scaling.factor", .float32(4))]).numLayers == 1)
    }

    @Test func ggufNonCausalAttentionIsRefused() throws {
        _ = try ggufRefusal([("llama.attention.causal", .bool(false))], key: "llama.attention.causal")
        #expect(try ggufLoads([("llama.attention.causal", .bool(true))]).numLayers == 1)
    }
}
