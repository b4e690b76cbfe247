import Foundation
import Testing
import TestSupport
@testable import TesseraModels
import TesseraTensor

/// Logits of the tiny fixture models against transformers (`scripts/make_fixtures.py`):
/// `Tests/Fixtures/logits/<model>.safetensors` holds `prompt{i}.ids`, `prompt{i}.logits`
/// `[len, vocab]` at every position, and for prompt 2 the greedy continuation.
@Suite("Tiny model parity")
struct TinyModelParityTests {
    static let models = ["tiny-llama", "tiny-qwen3", "tiny-llama-1kv", "tiny-llama3", "tiny-qwen2", "tiny-mistral"]
    static let tolerance: Float = 1e-3

    struct Loaded {
        let model: TransformerModel
        let reference: SafetensorsFile
    }

    static func load(_ name: String) throws -> Loaded {
        let files = try ModelFiles.open(Fixtures.url("models/\(name)"))
        let model = try TransformerModel(config: files.config, weights: files.weights)
        let reference = try SafetensorsFile(url: Fixtures.url("logits/\(name).safetensors"))
        return Loaded(model: model, reference: reference)
    }

    static func rows(_ t: Tensor) -> [[Float]] {
        let width = t.shape[1]
        return (0..<t.shape[0]).map { Array(t.data[$0 * width..<($0 + 1) * width]) }
    }

    static func runner(_ model: TransformerModel, tokens: Int, blockSize: Int, dtype: KVCacheDType = .f32) -> StepRunner {
        let blocks = (tokens + blockSize - 1) / blockSize
        let cache = PagedKVCache(config: model.config, numBlocks: 2 * blocks + 1, blockSize: blockSize, dtype: dtype)
        return StepRunner(model: model, cache: cache, blockTable: AttentionTests.scatteredTable(blocks))
    }

    /// The largest logit difference between a fixture model's GGUF and its Hugging Face folder
    /// over the reference prompts, prefilled in `steps(prompt length)`.
    static func ggufAgainstFolder(
        _ name: String, folder: ModelFiles, gguf: ModelFiles, steps: (Int) -> [Int] = { [$0] }
    ) throws -> Float {
        let a = try TransformerModel(config: folder.config, weights: folder.weights)
        let b = try TransformerModel(config: gguf.config, weights: gguf.weights)
        let reference = try SafetensorsFile(url: Fixtures.url("logits/\(name).safetensors"))
        var worst: Float = 0
        for i in 0..<3 {
            let ids = try reference.integers("prompt\(i).ids")
            let fromFolder = try runner(a, tokens: ids.count, blockSize: 8).logits(ids, steps: steps(ids.count))
            let fromGGUF = try runner(b, tokens: ids.count, blockSize: 8).logits(ids, steps: steps(ids.count))
            worst = max(worst, AttentionTests.maxAbsDiff(fromGGUF, fromFolder))
        }
        print("gguf \(name): max |logit diff| against the folder \(worst)")
        return worst
    }

    @Test(arguments: models)
    func prefillAndDecodeMatchTransformers(name: String) throws {
        let loaded = try Self.load(name)
        var worstPrefill: Float = 0, worstDecode: Float = 0
        for i in 0..<3 {
            let ids = try loaded.reference.integers("prompt\(i).ids")
            let expected = Self.rows(try loaded.reference.tensor("prompt\(i).logits"))
            let prefill = try Self.runner(loaded.model, tokens: ids.count, blockSize: 16)
                .logits(ids, steps: [ids.count])
            let decode = try Self.runner(loaded.model, tokens: ids.count, blockSize: 4)
                .logits(ids, steps: [Int](repeating: 1, count: ids.count))
            worstPrefill = max(worstPrefill, AttentionTests.maxAbsDiff(prefill, expected))
            worstDecode = max(worstDecode, AttentionTests.maxAbsDiff(decode, expected))
        }
        print("parity \(name): max |logit diff| prefill \(worstPrefill), decode \(worstDecode)")
        #expect(worstPrefill <= Self.tolerance)
        #expect(worstDecode <= Self.tolerance)
    }

    @Test(arguments: models)
    func greedyContinuationMatchesTransformers(name: String) throws {
        let loaded = try Self.load(name)
        let prompt = try loaded.reference.integers("prompt2.ids")
        let expected = try loaded.reference.integers("prompt2.generated")
        let expectedLogits = Self.rows(try loaded.reference.tensor("prompt2.generated_logits"))
        let runner = Self.runner(loaded.model, tokens: prompt.count + expected.count, blockSize: 8)
        let (tokens, logits) = try runner.greedy(prompt: prompt, maxNewTokens: expected.count, eos: [])
        #expect(tokens == expected)
        let diff = AttentionTests.maxAbsDiff(logits, expectedLogits)
        print("parity \(name): greedy \(tokens.count) tokens, max |logit diff| \(diff)")
        #expect(diff <= Self.tolerance)
    }

    @Test func missingOrMisshapenWeightsAreNamed() throws {
        let config = RandomWeights.config()
        var weights = RandomWeights(config: config)
        weights.tensorInfos["model.layers.1.mlp.up_proj.weight"] = nil
        #expect(throws: TransformerError.missingWeight("model.layers.1.mlp.up_proj.weight")) {
            _ = try TransformerModel(config: config, weights: weights)
        }
        weights = RandomWeights(config: config)
        weights.tensorInfos["model.layers.0.self_attn.k_proj.weight"]?.shape = [8, 24]
        #expect(throws: TransformerError.shapeMismatch(
            name: "model.layers.0.self_attn.k_proj.weight", expected: [16, 24], actual: [8, 24])) {
            _ = try TransformerModel(config: config, weights: weights)
        }
        // No lm_head: the embedding is used (tied).
        let tied = try TransformerModel(config: config, weights: RandomWeights(config: config, tied: true))
        #expect(tied.weights.lmHead === tied.weights.embedding)
    }
}
