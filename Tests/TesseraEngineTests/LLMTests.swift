import Foundation
import TestSupport
import Testing
import TesseraModels
@testable import TesseraEngine

@Suite struct LLMTests {
    /// SmolLM2 through `ModelRunner` (one rank), loaded once.
    static let smol = Task { try await LLM(model: Fixtures.smolLM2().path, cache: CacheSettings(maxModelLen: 1024),
                                           options: EngineOptions(maxNumBatchedTokens: 64, maxNumSeqs: 8)) }

    static func smolLLM() async throws -> LLM { try await smol.value }

    /// Text prompts in, outputs back in prompt order: the transformers greedy fixture.
    @Test func generateReturnsOutputsInOrder() async throws {
        let llm = try await Self.smolLLM()
        let fixture = try #require(try Fixtures.json("generation/smollm2_greedy.json") as? [String: Any])
        let results = try #require(fixture["results"] as? [[String: Any]]).filter { $0["chat"] as? Bool != true }
        let prompts = try results.map { try #require($0["prompt"] as? String) }
        let outputs = try await llm.generate(prompts, SamplingParams(maxTokens: try #require(fixture["max_new_tokens"] as? Int)))
        #expect(outputs.count == prompts.count)
        for (output, result) in zip(outputs, results) {
            #expect(output.promptIDs == result["prompt_ids"] as? [Int])
            #expect(output.ids == result["generated_ids"] as? [Int])
            #expect(output.text == result["generated_text_skip_special"] as? String)
            #expect(output.timings.promptTokens == output.promptIDs.count && output.timings.prefillSeconds > 0)
        }
    }

    /// The streaming variant: every prompt's pieces add up to its `generate` output.
    @Test func streamedPiecesAddUpToTheOutputs() async throws {
        let llm = try await Self.smolLLM()
        let prompts = ["Write the Japanese word for cat:", "Once upon a time", "def fib(n):"]
        let params = SamplingParams(maxTokens: 20)
        let expected = try await llm.generate(prompts, params)
        var ids = [[Int]](repeating: [], count: prompts.count)
        var texts = [String](repeating: "", count: prompts.count)
        var finished = 0
        for try await (index, output) in try llm.generateStream(prompts, params) {
            ids[index] += output.newTokenIDs
            texts[index] += output.newText
            if output.isFinished { finished += 1 }
        }
        #expect(finished == prompts.count)
        #expect(ids == expected.map(\.ids))
        #expect(texts == expected.map(\.text))
    }

    @Test func refusedPromptsNameTheirIndexAndLeaveNothingRunning() async throws {
        let model = try EngineModels.tinyLlama.get()
        let llm = try LLM(executor: EngineModels.runner(model, numBlocks: 16), tokenizer: nil,
                          options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 4))
        defer { llm.shutdown() }
        await #expect(throws: LLMError.self) { _ = try await llm.generate(["text needs a tokenizer"]) }
        do {
            _ = try await llm.generate([[5, 6], [], [7]], SamplingParams(maxTokens: 4))
            Issue.record("an empty prompt must be refused")
        } catch let LLMError.refused(index, _) {
            #expect(index == 1)
        }
        // Submitted after the aborts, so the engine has handled them once these are done.
        let ok = try await llm.generate([[5, 6], [7]], SamplingParams(maxTokens: 4, ignoreEOS: true))
        #expect(ok.map(\.ids.count) == [4, 4])
        #expect(llm.engine.stats.running == 0 && llm.engine.stats.waiting == 0 && llm.engine.stats.blocksUsed == 0)
    }

    /// Cancelling the task that awaits `generate` aborts its requests and frees their blocks.
    @Test func cancellingGenerateAbortsItsRequests() async throws {
        let model = try EngineModels.tinyLlama.get()
        let executor = PausingExecutor(try EngineModels.runner(model), pauseAt: 4)
        let llm = try LLM(executor: executor, tokenizer: nil, options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 4))
        defer { llm.shutdown() }
        let task = Task { try await llm.generate([[5, 6], [7, 8, 9]], SamplingParams(maxTokens: 250, ignoreEOS: true)) }
        executor.waitUntilPaused()
        task.cancel()
        // The awaiting side ends on its own while the engine thread is still held: no race
        // with the requests finishing, however slowly this task gets to run.
        await #expect(throws: (any Error).self) { _ = try await task.value }
        executor.release()
        // Submitted after the aborts, so the engine has handled them once this is done.
        _ = try await llm.generate([[5]], SamplingParams(maxTokens: 1))
        #expect(llm.engine.stats.running == 0 && llm.engine.stats.waiting == 0 && llm.engine.stats.blocksUsed == 0)
    }

    /// `LLM(model:parallel:...)` over `ModelRunner` with tp=2 cp=2 (tiny Qwen3, one KV head):
    /// a batch of mixed lengths gives each request's single-rank output, alone.
    @Test func contextParallelThroughTheModelRunner() async throws {
        let llm = try await LLM(model: Fixtures.url("models/tiny-qwen3").path, parallel: LLM.Parallel(tp: 2, cp: 2),
                                cache: CacheSettings(blockSize: 4), options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 8))
        defer { llm.shutdown() }
        #expect(llm.engine.executor.contextParallelSize == 2 && llm.engine.stats.tokensPerBlock == 8)
        let requests = EngineCoreTests.requests()
        let expected = try await EngineCoreTests.alone(try EngineModels.tinyQwen3.get(), requests)
        let outputs = try await llm.generate(requests.map(\.promptIDs), SamplingParams(maxTokens: 12, ignoreEOS: true))
        #expect(outputs.map(\.ids) == expected.map(\.ids))
        #expect(llm.engine.stats.blocksUsed == 0)
    }
}
