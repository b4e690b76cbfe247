import Foundation
import TestSupport
import Testing
import TesseraDistributed
import TesseraModels
import TesseraTokenizer
@testable import TesseraEngine

/// The default model, loaded once for every generator test.
enum SharedModels {
    static let smolLM2: Result<OpenedModel, any Error> = Result { try OpenedModel.open(Fixtures.smolLM2().path) }

    static func smol() throws -> OpenedModel { try smolLM2.get() }

    /// A generator on a runner whose cache fits one sequence of `maxSequenceLength` tokens.
    static func generator(
        _ model: OpenedModel, maxSequenceLength: Int = 512, tp: Int = 1, cp: Int = 1, interleave: Int = 1,
        combine: CPCombine = .allGatherReduceScatter
    ) throws -> Generator {
        let setup = try RunnerSetup.start(
            model, tp: tp, cp: cp, cpInterleave: interleave, cpCombine: combine, cache: CacheSettings(),
            minimumSequenceLength: maxSequenceLength)
        return Generator(runner: setup.runner, tokenizer: try model.requireTokenizer())
    }
}

@Suite struct GeneratorTests {
    /// End to end through the engine, tokenizer and chat template included: every greedy
    /// continuation in the transformers fixture, token for token, with its finish reason and
    /// text, on one rank and on several with the KV cache split along the sequence.
    @Test(arguments: [
        (1, 1, 1, CPCombine.allGatherReduceScatter), (3, 1, 1, .allGatherReduceScatter),
        (9, 3, 1, .allGatherReduceScatter), (9, 3, 4, .allToAll),
    ])
    func greedyOutputsEqualTransformers(tp: Int, cp: Int, interleave: Int, combine: CPCombine) throws {
        let loaded = try SharedModels.smol()
        let generator = try SharedModels.generator(loaded, tp: tp, cp: cp, interleave: interleave, combine: combine)
        let fixture = try #require(try Fixtures.json("generation/smollm2_greedy.json") as? [String: Any])
        let results = try #require(fixture["results"] as? [[String: Any]])
        #expect(results.count >= 5)
        for result in results {
            let prompt = try #require(result["prompt"] as? String)
            let ids: [Int]
            if result["chat"] as? Bool == true {
                let text = try loaded.requireTokenizer().applyChatTemplate([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true)
                ids = try loaded.requireTokenizer().encode(text)
            } else {
                ids = try loaded.requireTokenizer().encode(prompt)
            }
            #expect(ids == result["prompt_ids"] as? [Int], "prompt ids of \(prompt)")
            let max = try #require(fixture["max_new_tokens"] as? Int)
            let output = try generator.generate(promptIDs: ids, params: SamplingParams(maxTokens: max))
            #expect(output.ids == result["generated_ids"] as? [Int], "continuation of \(prompt)")
            #expect(output.text == result["generated_text_skip_special"] as? String)
            let expected: FinishReason = result["finish_reason"] as? String == "eos" ? .stop : .length
            #expect(output.finishReason == expected)
        }
    }

    @Test func streamedPiecesAddUpToTheText() throws {
        let loaded = try SharedModels.smol()
        var pieces: [String] = []
        let output = try SharedModels.generator(loaded).generate(
            promptIDs: try loaded.requireTokenizer().encode("Write the Japanese word for cat:"), params: SamplingParams(maxTokens: 24)
        ) { pieces.append($0) }
        #expect(pieces.joined() == output.text)
        #expect(output.ids.count == 24 || output.finishReason == .stop)
    }

    @Test func stopStringEndsGenerationBeforeIt() throws {
        let loaded = try SharedModels.smol()
        let generator = try SharedModels.generator(loaded)
        let ids = try loaded.requireTokenizer().encode("The capital of France is")
        let free = try generator.generate(promptIDs: ids, params: SamplingParams(maxTokens: 20))
        #expect(free.text.hasPrefix(" Paris.\n"))
        let stopped = try generator.generate(promptIDs: ids, params: SamplingParams(maxTokens: 20, stop: ["."]))
        #expect(stopped.text == " Paris")
        #expect(stopped.finishReason == .stop)
        #expect(stopped.ids.count < free.ids.count)
    }

    @Test func maxTokensAndIgnoreEOS() throws {
        let loaded = try SharedModels.smol()
        let generator = try SharedModels.generator(loaded)
        let ids = try loaded.requireTokenizer().encode("The capital of France is")
        let short = try generator.generate(promptIDs: ids, params: SamplingParams(maxTokens: 3))
        #expect(short.ids.count == 3)
        #expect(short.finishReason == .length)
        // Greedy ends with EOS (id 2) after 30 tokens; ignoring it runs to the limit.
        let natural = try generator.generate(promptIDs: ids, params: SamplingParams(maxTokens: 60))
        #expect(natural.finishReason == .stop)
        #expect(natural.ids.last == 2)
        let forced = try generator.generate(promptIDs: ids, params: SamplingParams(maxTokens: 60, ignoreEOS: true))
        #expect(forced.ids.count == 60)
        #expect(forced.finishReason == .length)
        #expect(Array(forced.ids.prefix(natural.ids.count)) == natural.ids)
    }

    @Test func seededSamplingIsReproducible() throws {
        let loaded = try SharedModels.smol()
        let generator = try SharedModels.generator(loaded)
        let ids = try loaded.requireTokenizer().encode("Once upon a time,")
        let params = SamplingParams(temperature: 0.9, topK: 50, topP: 0.95, seed: 11, maxTokens: 24, ignoreEOS: true)
        let a = try generator.generate(promptIDs: ids, params: params)
        let b = try generator.generate(promptIDs: ids, params: params)
        #expect(a.ids == b.ids)
        var other = params
        other.seed = 12
        #expect(try generator.generate(promptIDs: ids, params: other).ids != a.ids)
    }

    @Test func badRequestsAreRefusedWithNamedErrors() throws {
        let loaded = try SharedModels.smol()
        let generator = try SharedModels.generator(loaded, maxSequenceLength: 64)
        #expect(throws: GenerationError.emptyPrompt) { try generator.generate(promptIDs: [], params: SamplingParams()) }
        #expect(throws: GenerationError.invalidTokenID(49152, vocabularySize: 49152)) {
            try generator.generate(promptIDs: [1, 49152], params: SamplingParams())
        }
        #expect(throws: GenerationError.promptTooLong(64, maxModelLength: 64)) {
            try generator.generate(promptIDs: Array(repeating: 100, count: 64), params: SamplingParams())
        }
        #expect(throws: SamplingParamsError.self) { try generator.generate(promptIDs: [1], params: SamplingParams(topP: 0)) }
        // The generator still works after refusing.
        #expect(try generator.generate(promptIDs: [504, 3575], params: SamplingParams(maxTokens: 2)).ids.count == 2)
    }

    @Test func outputIsCutAtTheCacheCapacity() throws {
        let loaded = try SharedModels.smol()
        let generator = try SharedModels.generator(loaded, maxSequenceLength: 20)
        let output = try generator.generate(promptIDs: Array(repeating: 100, count: 10), params: SamplingParams(maxTokens: 50, ignoreEOS: true))
        // 20 tokens fit in two 16-token blocks = 32 slots; the model limit here is the cache.
        #expect(output.ids.count == 22)
        #expect(output.finishReason == .length)
    }
}
