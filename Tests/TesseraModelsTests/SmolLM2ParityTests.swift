import Foundation
import Testing
import TestSupport
@testable import TesseraModels
import TesseraTensor

/// SmolLM2-135M-Instruct (Q4_1 GGUF) against transformers running the same dequantised
/// weights in f32: logits at recorded positions and greedy continuations.
@Suite("SmolLM2 parity", .serialized)
struct SmolLM2ParityTests {
    /// Loaded once, on the exact path (weights widened to f32, as transformers runs them):
    /// dequantising 135M parameters takes a moment.
    static let shared: Result<TransformerModel, any Error> = Result {
        let files = try ModelFiles.open(try Fixtures.smolLM2())
        return try TransformerModel(config: files.config, weights: DequantizedWeights(files.weights))
    }

    static func model() throws -> TransformerModel { try shared.get() }

    static func runner(_ model: TransformerModel, tokens: Int, blockSize: Int = 16, dtype: KVCacheDType = .f32) -> StepRunner {
        let blocks = (tokens + blockSize - 1) / blockSize
        let cache = PagedKVCache(config: model.config, numBlocks: 2 * blocks + 1, blockSize: blockSize, dtype: dtype)
        return StepRunner(model: model, cache: cache, blockTable: AttentionTests.scatteredTable(blocks))
    }

    /// Logits at `positions` with the prompt split into the given steps.
    static func logits(_ model: TransformerModel, ids: [Int], positions: [Int], steps: [Int], dtype: KVCacheDType) throws -> [[Float]] {
        let all = try runner(model, tokens: ids.count, dtype: dtype).logits(ids, steps: steps)
        return positions.map { all[$0] }
    }

    @Test func logitsAtRecordedPositions() throws {
        let model = try Self.model()
        let reference = try SafetensorsFile(url: Fixtures.url("logits/smollm2.safetensors"))
        var worst: [String: Float] = [:]
        for i in 0..<3 {
            let ids = try reference.integers("prompt\(i).ids")
            let positions = try reference.integers("prompt\(i).positions")
            let expected = TinyModelParityTests.rows(try reference.tensor("prompt\(i).logits"))
            let half = ids.count / 2
            let splits: [(String, [Int], KVCacheDType)] = [
                ("prefill f32", [ids.count], .f32),
                ("chunked+decode f32", [half] + [Int](repeating: 1, count: ids.count - half), .f32),
                ("chunked+decode f16", [half] + [Int](repeating: 1, count: ids.count - half), .f16),
                ("chunked+decode bf16", [half] + [Int](repeating: 1, count: ids.count - half), .bf16),
            ]
            for (label, steps, dtype) in splits {
                let got = try Self.logits(model, ids: ids, positions: positions, steps: steps, dtype: dtype)
                worst[label] = max(worst[label] ?? 0, AttentionTests.maxAbsDiff(got, expected))
            }
        }
        print("parity smollm2: max |logit diff|", worst.sorted { $0.key < $1.key })
        #expect(worst["prefill f32"]! <= 1e-3)
        #expect(worst["chunked+decode f32"]! <= 1e-3)
        // A 16-bit cache rounds every cached K/V once; documents the size of the effect.
        #expect(worst["chunked+decode f16"]! <= 5e-2)
        #expect(worst["chunked+decode bf16"]! <= 2e-1)  // measured about 0.08; f16 about 0.016
    }

    @Test func greedyContinuationsMatchTransformers() throws {
        try Self.checkGreedy(try Self.model())
    }

    /// The same on the stored weights (Q4_1 blocks multiplied as stored, the fast default):
    /// exact up to summation order, so the continuations are transformers' too.
    @Test func greedyContinuationsOnStoredWeights() throws {
        let files = try ModelFiles.open(try Fixtures.smolLM2())
        try Self.checkGreedy(try TransformerModel(config: files.config, weights: files.weights))
    }

    static func checkGreedy(_ model: TransformerModel) throws {
        guard let fixture = try Fixtures.json("generation/smollm2_greedy.json") as? [String: Any],
              let results = fixture["results"] as? [[String: Any]],
              let maxNew = fixture["max_new_tokens"] as? Int, let eos = fixture["eos_token_id"] as? Int
        else { throw FixtureError.missingModel("generation/smollm2_greedy.json has an unexpected layout") }
        #expect(results.count >= 1)
        for result in results {
            let prompt = result["prompt_ids"] as! [Int]
            let expected = result["generated_ids"] as! [Int]
            let runner = runner(model, tokens: prompt.count + maxNew)
            let (tokens, _) = try runner.greedy(prompt: prompt, maxNewTokens: maxNew, eos: [eos])
            #expect(tokens == expected, "prompt \(result["prompt"] ?? "?")")
        }
    }
}
