import Foundation
import TestSupport
import Testing
import TesseraDistributed
import TesseraModels
import TesseraTensor
import TesseraTokenizer
@testable import TesseraEngine

/// A request's outputs gathered from its stream.
struct Collected: Equatable {
    var ids: [Int] = []
    var text = ""
    var finish: RequestFinishReason?
    var outputs = 0
    var preemptions = 0
    var cachedPromptTokens = 0
}

func collect(_ stream: RequestStream) async throws -> Collected {
    var result = Collected()
    for try await output in stream {
        #expect(result.finish == nil, "output after the final one")
        result.ids += output.newTokenIDs
        result.text += output.newText
        result.outputs += 1
        if let finish = output.finishReason {
            result.finish = finish
            result.preemptions = output.metrics?.preemptions ?? -1
            result.cachedPromptTokens = output.metrics?.cachedPromptTokens ?? -1
        }
    }
    return result
}

/// Submits every request at once and waits for all of them.
func runAll(_ engine: EngineCore, _ requests: [EngineRequest]) async throws -> [Collected] {
    let streams = try requests.map { try engine.submit($0) }
    return try await withThrowingTaskGroup(of: (Int, Collected).self) { group in
        for (i, stream) in streams.enumerated() { group.addTask { (i, try await collect(stream)) } }
        var results = Array(repeating: Collected(), count: streams.count)
        for try await (i, result) in group { results[i] = result }
        return results
    }
}

/// Reproducible token ids in `1..<vocab` (0 and the EOS id 2 avoided).
func randomPrompt(_ length: Int, seed: UInt64, vocab: Int = 1000) -> [Int] {
    var random = SeededRandom(seed: seed)
    return (0..<length).map { _ in 3 + Int(random.next() % UInt64(vocab - 3)) }
}

@Suite struct EngineCoreTests {
    static let lengths = [1, 5, 9, 17, 3, 40, 12, 26]

    static func requests(maxTokens: Int = 12, seedBase: UInt64 = 0, params: SamplingParams? = nil) -> [EngineRequest] {
        lengths.enumerated().map { i, length in
            EngineRequest(id: "r\(i)", promptIDs: randomPrompt(length, seed: seedBase + UInt64(i)),
                          params: params ?? SamplingParams(maxTokens: maxTokens, ignoreEOS: true))
        }
    }

    /// Each request alone, one at a time, through an engine with room for one sequence.
    static func alone(_ model: ModelFiles, _ requests: [EngineRequest]) async throws -> [Collected] {
        let (engine, _) = try EngineModels.engine(model, options: EngineOptions(maxNumBatchedTokens: 64, maxNumSeqs: 1, enablePrefixCaching: false))
        defer { engine.shutdown() }
        var results: [Collected] = []
        for request in requests { results.append(try await collect(engine.submit(request))) }
        return results
    }

    @Test(arguments: ["llama", "qwen3"])
    func batchEqualsEachRequestAlone(_ name: String) async throws {
        let model = try (name == "llama" ? EngineModels.tinyLlama : EngineModels.tinyQwen3).get()
        let requests = Self.requests()
        let expected = try await Self.alone(model, requests)
        // A small budget forces chunked prefill mixed with decodes.
        let (engine, executor) = try EngineModels.engine(model, options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 8))
        defer { engine.shutdown() }
        let batched = try await runAll(engine, requests)
        #expect(batched.map(\.ids) == expected.map(\.ids))
        #expect(batched.allSatisfy { $0.finish == .length && $0.ids.count == 12 })
        let batches = executor.recordedBatches
        #expect(batches.contains { $0.sequences.count > 1 && $0.sequences.contains { $0.tokenRange.count > 1 } },
                "some step mixes a prefill chunk with other sequences")
        #expect(batches.allSatisfy { $0.tokens.count <= 16 })
        #expect(engine.stats.blocksUsed == 0)
    }

    @Test func seededSamplingIsReproducibleInABatch() async throws {
        let model = try EngineModels.tinyLlama.get()
        let params = SamplingParams(temperature: 0.9, topK: 50, topP: 0.95, seed: 7, maxTokens: 10, ignoreEOS: true)
        let requests = Self.requests(params: params)
        let expected = try await Self.alone(model, requests)
        let (engine, _) = try EngineModels.engine(model, options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 8))
        defer { engine.shutdown() }
        #expect(try await runAll(engine, requests).map(\.ids) == expected.map(\.ids))
    }

    @Test func abortEndsARequestAndFreesItsBlocks() async throws {
        let model = try EngineModels.tinyLlama.get()
        let executor = PausingExecutor(try EngineModels.runner(model), pauseAt: 6)
        let engine = try EngineCore(executor: executor, tokenizer: nil)
        defer { engine.shutdown() }
        let long = try engine.submit(EngineRequest(id: "long", promptIDs: randomPrompt(10, seed: 1),
                                                   params: SamplingParams(maxTokens: 200, ignoreEOS: true)))
        executor.waitUntilPaused()
        engine.abort("long")
        executor.release()
        let output = try await collect(long)
        #expect(output.finish == .abort)
        #expect(output.ids.count >= 5 && output.ids.count <= 6)
        #expect(engine.stats.blocksUsed == 0)
        // The id is free again, and the engine keeps serving.
        let again = try await collect(engine.submit(EngineRequest(id: "long", promptIDs: [5, 6], params: SamplingParams(maxTokens: 2))))
        #expect(again.finish != nil)
    }

    /// Cancelling the task that consumes a stream aborts its request and frees its blocks.
    @Test func cancellingTheConsumerAbortsTheRequest() async throws {
        let model = try EngineModels.tinyLlama.get()
        let executor = PausingExecutor(try EngineModels.runner(model), pauseAt: 3)
        let engine = try EngineCore(executor: executor, tokenizer: nil)
        defer { engine.shutdown() }
        let stream = try engine.submit(EngineRequest(id: "c", promptIDs: [4, 5, 6], params: SamplingParams(maxTokens: 400, ignoreEOS: true)))
        let task = Task { var n = 0; for try await _ in stream { n += 1 }; return n }
        executor.waitUntilPaused()
        task.cancel()
        _ = try? await task.value
        executor.release()
        // Submitted after the abort, so the engine has handled the abort once this one is done.
        let after = try await collect(engine.submit(EngineRequest(id: "after", promptIDs: [7], params: SamplingParams(maxTokens: 1))))
        #expect(after.finish == .length)
        #expect(engine.stats.running == 0 && engine.stats.waiting == 0 && engine.stats.blocksUsed == 0)
    }

    @Test func invalidRequestsAreRefusedWithTheirValues() throws {
        let model = try EngineModels.tinyLlama.get()
        // The engine holds its first step, so "e" below is still running when its id is reused
        // (31 tokens of the tiny model could otherwise finish before the second submission).
        let executor = PausingExecutor(try EngineModels.runner(model, numBlocks: 8), pauseAt: 1)
        let engine = try EngineCore(executor: executor, tokenizer: nil)
        defer { engine.shutdown() }
        #expect(throws: EngineError.emptyPrompt(requestID: "a")) { try engine.submit(EngineRequest(id: "a", promptIDs: [])) }
        #expect(throws: EngineError.promptTooLong(requestID: "b", length: 32, limit: 32)) {
            try engine.submit(EngineRequest(id: "b", promptIDs: Array(repeating: 5, count: 32)))
        }
        #expect(throws: EngineError.invalidTokenID(requestID: "c", id: 1000, vocabularySize: 1000)) {
            try engine.submit(EngineRequest(id: "c", promptIDs: [1000]))
        }
        #expect(throws: EngineError.stopStringsNeedTokenizer(requestID: "d")) {
            try engine.submit(EngineRequest(id: "d", promptIDs: [5], params: SamplingParams(stop: ["x"])))
        }
        // Keep the stream: dropping it would abort "e" (its consumer went away) and free the id.
        let running = try engine.submit(EngineRequest(id: "e", promptIDs: [5], params: SamplingParams(maxTokens: 100, ignoreEOS: true)))
        executor.waitUntilPaused()
        withExtendedLifetime(running) {
            #expect(throws: EngineError.duplicateRequestID("e")) { try engine.submit(EngineRequest(id: "e", promptIDs: [5])) }
        }
        executor.release()
    }

    @Test func lengthIsCappedByTheCache() async throws {
        let model = try EngineModels.tinyLlama.get()
        let (engine, _) = try EngineModels.engine(model, numBlocks: 4, blockSize: 4)
        defer { engine.shutdown() }
        let out = try await collect(engine.submit(EngineRequest(id: "a", promptIDs: randomPrompt(10, seed: 3),
                                                                params: SamplingParams(maxTokens: 100, ignoreEOS: true))))
        #expect(out.ids.count == 6 && out.finish == .length)
    }

    /// The failing executor's error reaches every request, and the engine refuses new ones.
    @Test func executorFailureEndsEveryRequestWithTheError() async throws {
        /// Fails its first step, once `release` is signalled: every request is submitted before
        /// the engine fails (otherwise a late submission is refused outright, not failed).
        final class Failing: StepExecutor, @unchecked Sendable {
            let config: ModelConfig
            let release = DispatchSemaphore(value: 0)
            init(config: ModelConfig) { self.config = config }
            let numBlocks = 16, blockSize = 4, contextParallelSize = 1
            struct Boom: Error {}
            func forward(_ batch: ForwardBatch) throws -> Tensor {
                release.wait()
                throw Boom()
            }
        }
        /// Returns one row too few.
        final class Short: StepExecutor, @unchecked Sendable {
            let config: ModelConfig
            init(config: ModelConfig) { self.config = config }
            let numBlocks = 16, blockSize = 4, contextParallelSize = 1
            func forward(_ batch: ForwardBatch) throws -> Tensor {
                Tensor(zeros: [batch.logitIndices.count - 1, config.vocabSize])
            }
        }
        let short = try EngineCore(executor: Short(config: EngineModels.tinyLlama.get().config), tokenizer: nil)
        defer { short.shutdown() }
        await #expect(throws: EngineError.executorFailed("logits of shape [0, 1000] for 1 rows of a 1000-token vocabulary")) {
            _ = try await collect(short.submit(EngineRequest(id: "s", promptIDs: [4, 5])))
        }
        let failing = Failing(config: try EngineModels.tinyLlama.get().config)
        let engine = try EngineCore(executor: failing, tokenizer: nil)
        defer { engine.shutdown() }
        let streams = try (0..<3).map { try engine.submit(EngineRequest(id: "\($0)", promptIDs: [4, 5])) }
        failing.release.signal()
        for stream in streams {
            await #expect(throws: Failing.Boom.self) { _ = try await collect(stream) }
        }
        #expect(throws: EngineError.self) { try engine.submit(EngineRequest(id: "x", promptIDs: [4])) }
    }

    /// SmolLM2 through the engine with its tokenizer, all fixture prompts in one batch: the
    /// transformers greedy ids, text and finish reasons; a stop string cuts the text.
    @Test func smolLM2BatchEqualsTransformers() async throws {
        let loaded = try EngineModels.smol.get()
        let fixture = try #require(try Fixtures.json("generation/smollm2_greedy.json") as? [String: Any])
        let results = try #require(fixture["results"] as? [[String: Any]])
        let maxTokens = try #require(fixture["max_new_tokens"] as? Int)
        let requests = try results.enumerated().map { i, result in
            EngineRequest(id: "\(i)", promptIDs: try #require(result["prompt_ids"] as? [Int]), params: SamplingParams(maxTokens: maxTokens))
        }
        let (engine, _) = try EngineModels.engine(loaded.model, tokenizer: loaded.tokenizer, numBlocks: 64, blockSize: 16,
                                                  options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 8))
        defer { engine.shutdown() }
        let outputs = try await runAll(engine, requests)
        for (output, result) in zip(outputs, results) {
            #expect(output.ids == result["generated_ids"] as? [Int])
            #expect(output.text == result["generated_text_skip_special"] as? String)
            #expect(output.finish == (result["finish_reason"] as? String == "eos" ? .stop : .length))
        }
        let stopped = SamplingParams(maxTokens: 20, stop: ["."])
        let cut = try await collect(engine.submit(EngineRequest(id: "s", promptIDs: loaded.tokenizer.encode("The capital of France is"), params: stopped)))
        #expect(cut.text == " Paris" && cut.finish == .stop)
    }

    /// tp=2 cp=2 (tiny Qwen3, one KV head) and tp=4 cp=2 (tiny Llama, two KV heads): a batch
    /// with mixed prompt lengths, chunked prefill and logical blocks of blockSize * cp tokens
    /// gives each request's single-rank greedy output.
    @Test(arguments: [("qwen3", 2, 2), ("llama", 4, 2), ("qwen3", 2, 1)])
    func contextParallelBatchEqualsEachRequestAlone(_ name: String, tp: Int, cp: Int) async throws {
        let model = try (name == "llama" ? EngineModels.tinyLlama : EngineModels.tinyQwen3).get()
        let requests = Self.requests()
        let expected = try await Self.alone(model, requests)
        let (engine, _) = try EngineModels.engine(model, tp: tp, cp: cp, numBlocks: 64, blockSize: 4,
                                                  options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 8))
        defer { engine.shutdown() }
        #expect(engine.maxSequenceLength == min(512, 64 * 4 * cp))
        let batched = try await runAll(engine, requests)
        #expect(batched.map(\.ids) == expected.map(\.ids))
        #expect(engine.stats.blocksUsed == 0 && engine.stats.tokensPerBlock == 4 * cp)
    }
}
