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

    @Test func mistralSlidingWindowIsParsedAndLlamaWindowIsRefused() throws {
        #expect(try config(#"{"model_type": "mistral", \#(Self.base), "sliding_window": 8}"#).slidingWindow == 8)
        // Mistral has no use_sliding_window switch: transformers applies the window regardless.
        #expect(try config(#"{"model_type": "mistral", \#(Self.base), "sliding_window": 8, "use_sliding_window": false}"#).slidingWindow == 8)
        let message = try refusal(#"{"model_type": "llama", \#(Self.base), "sliding_window": 256}"#, key: "sliding_window")
        #expect(message == "config.json: unsupported sliding_window = 256: a sliding window in a llama config is not implemented")
    }

    @Test func neutralSlidingWindowsLoad() throws {
        #expect(try config(#"{"model_type": "mistral", \#(Self.base), "sliding_window": null}"#).slidingWindow == nil)
        // A window as long as the model's maximum context never hides a key.
        #expect(try config(#"{"model_type": "mistral", \#(Self.base), "sliding_window": 512}"#).slidingWindow == nil)
        // Qwen3 configs ship a window with use_sliding_window false (or absent: transformers' default).
        #expect(try config(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": 8, "use_sliding_window": false, "max_window_layers": 28}"#).architecture == .qwen3)
        #expect(try config(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": 8}"#).slidingWindow == nil)
        #expect(try config(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": null, "use_sliding_window": false, "layer_types": ["full_attention", "full_attention"]}"#).architecture == .qwen3)
    }

    @Test func qwen3WithSlidingWindowOnIsRefused() throws {
        _ = try refusal(#"{"model_type": "qwen3", \#(Self.base), "sliding_window": 8, "use_sliding_window": true}"#, key: "use_sliding_window")
        let message = try refusal(#"{"model_type": "qwen3", \#(Self.base), "layer_types": ["full_attention", "sliding_attention"]}"#, key: "layer_types")
        #expect(message.contains("layer_types = sliding_attention"))
    }

    @Test func mlpBiasesAreRefusedAttentionBiasesRead() throws {
        let message = try refusal(#"{"model_type": "llama", \#(Self.base), "mlp_bias": true}"#, key: "mlp_bias")
        #expect(message == "config.json: unsupported mlp_bias = true: linear biases are not implemented")
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "mlp_bias": false}"#).architecture == .llama)
        let biased = try config(#"{"model_type": "llama", \#(Self.base), "attention_bias": true}"#)
        #expect(biased.attentionQKVBias && biased.attentionOutputBias)
        let plain = try config(#"{"model_type": "llama", \#(Self.base), "attention_bias": false}"#)
        #expect(!plain.attentionQKVBias && !plain.attentionOutputBias)
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

    @Test func ropeScalingOtherThanLinearLlama3YarnIsRefused() throws {
        for type in ["dynamic", "longrope", "su"] {
            let message = try refusal(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "\#(type)", "factor": 8.0}}"#,
                                      key: "rope_scaling.rope_type")
            #expect(message.contains("rope_scaling.rope_type = \(type)"))
        }
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": null}"#).ropeScaling == nil)
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "default"}}"#).ropeScaling == nil)
        #expect(try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "linear", "factor": 2.0}}"#).ropeScaling == .linear(factor: 2))
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
        for name in ["tiny-llama", "tiny-llama-1kv", "tiny-qwen3", "tiny-llama3", "tiny-qwen2", "tiny-mistral"] {
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

    @Test func ggufSlidingWindowIsRead() throws {
        #expect(try ggufLoads([("llama.attention.sliding_window", .uint32(8))]).slidingWindow == 8)
        // 0 means none, and a window of the whole context (128 here) hides nothing.
        #expect(try ggufLoads([("llama.attention.sliding_window", .uint32(0))]).slidingWindow == nil)
        #expect(try ggufLoads([("llama.attention.sliding_window", .uint32(128))]).slidingWindow == nil)
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

    @Test func ggufRopeScalingIsReadOrRefused() throws {
        let yarn = try ggufLoads([("llama.rope.scaling.type", .string("yarn")), ("llama.rope.scaling.factor", .float32(4)),
                                  ("llama.rope.scaling.original_context_length", .uint32(32))])
        #expect(yarn.yarn?.factor == 4 && yarn.yarn?.originalMaxPositions == 32 && yarn.ropeScaling == nil)
        // A factor without a type is linear scaling in llama.cpp.
        #expect(try ggufLoads([("llama.rope.scaling.factor", .float32(4))]).ropeScaling == .linear(factor: 4))
        #expect(try ggufLoads([("llama.rope.scale_linear", .float32(2))]).ropeScaling == .linear(factor: 2))
        #expect(try ggufLoads([("llama.rope.scaling.factor", .float32(1))]).ropeScaling == nil)
        #expect(try ggufLoads([("llama.rope.scaling.type", .string("none")), ("llama.rope.scaling.factor", .float32(4))]).ropeScaling == nil)
        let message = try ggufRefusal([("llama.rope.scaling.type", .string("longrope"))], key: "llama.rope.scaling.type")
        #expect(message.contains("llama.rope.scaling.type = longrope"))
        _ = try ggufRefusal([("llama.rope.scaling.type", .string("yarn")), ("llama.rope.scaling.factor", .float32(4)),
                             ("llama.rope.scaling.original_context_length", .uint32(32)),
                             ("llama.rope.scaling.yarn_log_multiplier", .float32(0.1))], key: "llama.rope.scaling.yarn_log_multiplier")
    }

    @Test func ggufNonCausalAttentionIsRefused() throws {
        _ = try ggufRefusal([("llama.attention.causal", .bool(false))], key: "llama.attention.causal")
        #expect(try ggufLoads([("llama.attention.causal", .bool(true))]).numLayers == 1)
    }
}
