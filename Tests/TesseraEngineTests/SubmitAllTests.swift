import Testing
@testable import TesseraEngine

/// `EngineCore.submitAll`: every request of a group or none.
@Suite struct SubmitAllTests {
    /// A refused request is named by its index, and the ones before it are aborted: a short
    /// request submitted after the refusal finishes with nothing else left running.
    @Test func aRefusalAbortsTheRequestsBeforeIt() async throws {
        let model = try EngineModels.tinyLlama.get()
        // Held in its first step, so the long requests are surely still running at the refusal.
        let executor = PausingExecutor(try EngineModels.runner(model), pauseAt: 1)
        let engine = try EngineCore(executor: executor, tokenizer: nil, options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 4))
        defer { engine.shutdown() }
        let long = SamplingParams(maxTokens: 200, ignoreEOS: true)
        let group = [[5, 6], [7], [], [8]].enumerated().map { EngineRequest(id: "g\($0)", promptIDs: $1, params: long) }
        do {
            _ = try engine.submitAll(group)
            Issue.record("an empty prompt must be refused")
        } catch {
            #expect(error.index == 2 && error.error == .emptyPrompt(requestID: "g2"))
        }
        executor.release()
        // The aborts are queued before this request: they are done by the time it finishes.
        let short = try engine.submitAll([EngineRequest(id: "short", promptIDs: [9], params: SamplingParams(maxTokens: 2, ignoreEOS: true))])
        #expect(try await collect(short[0]).ids.count == 2)
        #expect(engine.stats.running + engine.stats.waiting == 0 && engine.stats.blocksUsed == 0)
    }
}
