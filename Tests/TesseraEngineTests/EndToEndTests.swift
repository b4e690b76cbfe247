import Foundation
import TestSupport
import Testing
import TesseraDistributed
import TesseraModels
import TesseraTokenizer
@testable import TesseraEngine

/// The whole path a user takes: files, tokenizer and chat template, ranks, engine, sampler.
@Suite struct EndToEndTests {
    static func smol(tp: Int = 1, cp: Int = 1, interleave: Int = 1, combine: CPCombine = .allGatherReduceScatter) async throws -> LLM {
        try await LLM(
            model: Fixtures.smolLM2().path, parallel: LLM.Parallel(tp: tp, cp: cp, cpInterleave: interleave, cpCombine: combine),
            cache: CacheSettings(maxModelLen: 512), options: EngineOptions(maxNumBatchedTokens: 256, maxNumSeqs: 8))
    }

    /// Every greedy continuation in the transformers fixture (raw and chat prompts), token for
    /// token, with its finish reason and text, as one batch, on one rank and on several with the
    /// KV cache split along the sequence.
    @Test(arguments: [
        (1, 1, 1, CPCombine.allGatherReduceScatter), (3, 1, 1, .allGatherReduceScatter),
        (9, 3, 1, .allGatherReduceScatter), (9, 3, 4, .allToAll),
    ])
    func greedyOutputsEqualTransformers(tp: Int, cp: Int, interleave: Int, combine: CPCombine) async throws {
        let llm = try await Self.smol(tp: tp, cp: cp, interleave: interleave, combine: combine)
        defer { llm.shutdown() }
        let tokenizer = try #require(llm.tokenizer)
        let fixture = try #require(try Fixtures.json("generation/smollm2_greedy.json") as? [String: Any])
        let results = try #require(fixture["results"] as? [[String: Any]])
        #expect(results.count >= 5)
        var prompts: [[Int]] = []
        for result in results {
            let prompt = try #require(result["prompt"] as? String)
            let ids = result["chat"] as? Bool == true
                ? try tokenizer.encodeChat([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true)
                : tokenizer.encode(prompt)
            #expect(ids == result["prompt_ids"] as? [Int], "prompt ids of \(prompt)")
            prompts.append(ids)
        }
        let outputs = try await llm.generate(prompts, SamplingParams(maxTokens: try #require(fixture["max_new_tokens"] as? Int)))
        for (output, result) in zip(outputs, results) {
            #expect(output.ids == result["generated_ids"] as? [Int], "continuation of \(result["prompt"] ?? "")")
            #expect(output.text == result["generated_text_skip_special"] as? String)
            #expect(output.finishReason == (result["finish_reason"] as? String == "eos" ? .stop : .length))
        }
    }

    @Test func stopStringsMaxTokensAndEOS() async throws {
        let llm = try await Self.smol()
        defer { llm.shutdown() }
        let prompt = "The capital of France is"
        let free = try await llm.generate([prompt], SamplingParams(maxTokens: 20))[0]
        #expect(free.text.hasPrefix(" Paris.\n"))
        let stopped = try await llm.generate([prompt], SamplingParams(maxTokens: 20, stop: ["."]))[0]
        #expect(stopped.text == " Paris")
        #expect(stopped.finishReason == .stop)
        let short = try await llm.generate([prompt], SamplingParams(maxTokens: 3))[0]
        #expect(short.ids.count == 3 && short.finishReason == .length)
        // Greedy ends with EOS (id 2) after 30 tokens; ignoring it runs to the limit.
        let natural = try await llm.generate([prompt], SamplingParams(maxTokens: 60))[0]
        #expect(natural.finishReason == .stop && natural.ids.last == 2)
        let forced = try await llm.generate([prompt], SamplingParams(maxTokens: 60, ignoreEOS: true))[0]
        #expect(forced.ids.count == 60 && forced.finishReason == .length)
        #expect(Array(forced.ids.prefix(natural.ids.count)) == natural.ids)
    }

    @Test func seededSamplingIsReproducible() async throws {
        let llm = try await Self.smol()
        defer { llm.shutdown() }
        let params = SamplingParams(temperature: 0.9, topK: 50, topP: 0.95, seed: 11, maxTokens: 24, ignoreEOS: true)
        let a = try await llm.generate(["Once upon a time,"], params)[0]
        let b = try await llm.generate(["Once upon a time,"], params)[0]
        #expect(a.ids == b.ids)
        var other = params
        other.seed = 12
        #expect(try await llm.generate(["Once upon a time,"], other)[0].ids != a.ids)
    }

    @Test func badRequestsAreRefusedAndTheEngineKeepsServing() async throws {
        let llm = try await Self.smol()
        defer { llm.shutdown() }
        for (prompt, params) in [([Int](), SamplingParams()), ([1, 49152], SamplingParams()),
                                 (Array(repeating: 100, count: 600), SamplingParams()), ([1], SamplingParams(topP: 0))] {
            await #expect(throws: LLMError.self) { _ = try await llm.generate([prompt], params) }
        }
        #expect(try await llm.generate([[504, 3575]], SamplingParams(maxTokens: 2))[0].ids.count == 2)
    }
}
