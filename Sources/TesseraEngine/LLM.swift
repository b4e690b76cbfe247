import Foundation
import TesseraDistributed
import TesseraModels
import TesseraTokenizer

/// The offline API: many prompts in, their outputs back in order, run as one continuously
/// batched workload by an `EngineCore`.
///
/// ```swift
/// let llm = try await LLM(model: "smollm2", parallel: .init(tp: 2, cp: 2))
/// let outputs = try await llm.generate(["The capital of France is", "1, 2, 3,"], SamplingParams(maxTokens: 32))
/// ```
public final class LLM: Sendable {
    public let engine: EngineCore
    /// Nil for models loaded without one (`--load-format dummy`): prompts must then be ids.
    public let tokenizer: Tokenizer?
    /// Called once by `shutdown()` after the engine stops (e.g. to stop the runner's ranks).
    private let onShutdown: @Sendable () -> Void
    private let counter = RequestCounter()

    /// How many ranks and how the KV cache is split among them (DESIGN.md, "Rank grid").
    public struct Parallel: Sendable {
        public var tp: Int
        public var cp: Int
        public var cpInterleave: Int
        public var cpCombine: CPCombine

        public init(tp: Int = 1, cp: Int = 1, cpInterleave: Int = 1, cpCombine: CPCombine = .allGatherReduceScatter) {
            self.tp = tp
            self.cp = cp
            self.cpInterleave = cpInterleave
            self.cpCombine = cpCombine
        }
    }

    /// Opens `model` (a .gguf file, a Hugging Face folder, or `smollm2`), starts its ranks and
    /// the engine. With no KV budget in `cache`, the cache holds one sequence of the maximum
    /// length (`cache.maxModelLen`, else `options.maxModelLen`, else the model's), shared by all running sequences.
    public convenience init(
        model: String, parallel: Parallel = Parallel(), cache: CacheSettings = CacheSettings(),
        options: EngineOptions = EngineOptions(), loadFormat: LoadFormat = .auto, weightFormat: WeightFormat = .stored,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        let (setup, tokenizer) = try await Self.onOwnThread { () throws -> (RunnerSetup, Tokenizer?) in
            let opened = try OpenedModel.open(model, loadFormat: loadFormat, weightFormat: weightFormat, progress: progress)
            var cache = cache
            cache.maxModelLen = cache.maxModelLen ?? options.maxModelLen
            let setup = try RunnerSetup.start(
                opened, parallel: parallel, cache: cache, demand: { CacheDemand(longestSequence: $0) })
            return (setup, opened.tokenizer)
        }
        var options = options
        options.maxModelLen = setup.maxModelLen
        let runner = setup.runner
        try self.init(executor: runner, tokenizer: tokenizer, options: options, onShutdown: { runner.shutdown() })
    }

    /// Loading reads gigabytes and blocks: keep it off Swift concurrency's few threads.
    private static func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// An engine over any executor (a `ModelRunner`, or a test's).
    public init(executor: any StepExecutor, tokenizer: Tokenizer?, options: EngineOptions = EngineOptions(),
                onShutdown: @escaping @Sendable () -> Void = {}) throws {
        engine = try EngineCore(executor: executor, tokenizer: tokenizer, options: options)
        self.tokenizer = tokenizer
        self.onShutdown = onShutdown
    }

    /// Aborts what is still running and stops the engine thread; the object is unusable after.
    /// Also done when the last reference goes away.
    public func shutdown() {
        engine.shutdown()
        onShutdown()
    }

    deinit { engine.shutdown() }

    /// Generates a continuation of each prompt (encoded with the model's tokenizer, special
    /// tokens added as the tokenizer's config says); outputs in prompt order.
    public func generate(_ prompts: [String], _ params: SamplingParams = SamplingParams()) async throws -> [GenerationOutput] {
        try await generate(prompts.map(encode), params)
    }

    /// Generates a continuation of each prompt of token ids; outputs in prompt order. Cancelling
    /// the calling task aborts every request still running.
    public func generate(_ prompts: [[Int]], _ params: SamplingParams = SamplingParams()) async throws -> [GenerationOutput] {
        let streams = try submitAll(prompts, params)
        return try await withThrowingTaskGroup(of: (Int, GenerationOutput).self) { group in
            for (index, (prompt, stream)) in zip(prompts, streams).enumerated() {
                group.addTask { (index, try await Self.gather(stream, prompt: prompt, index: index)) }
            }
            var outputs = [GenerationOutput?](repeating: nil, count: prompts.count)
            for try await (index, output) in group { outputs[index] = output }
            return outputs.map { $0! }
        }
    }

    /// Streams the outputs of every prompt as they come, tagged with the prompt's index; each
    /// prompt's last output has its finish reason. Ending the iteration early aborts the rest.
    public func generateStream(_ prompts: [[Int]], _ params: SamplingParams = SamplingParams()) throws -> MergedStreams {
        MergedStreams(try submitAll(prompts, params))
    }

    /// The text variant of ``generateStream(_:_:)-([[Int]],_)``.
    public func generateStream(_ prompts: [String], _ params: SamplingParams = SamplingParams()) throws -> MergedStreams {
        try generateStream(prompts.map(encode), params)
    }

    /// One request straight to the engine, with an id made up here.
    public func stream(_ promptIDs: [Int], _ params: SamplingParams = SamplingParams()) throws -> RequestStream {
        try engine.submit(EngineRequest(id: counter.next(), promptIDs: promptIDs, params: params))
    }

    private func encode(_ text: String) throws -> [Int] {
        guard let tokenizer else { throw LLMError.noTokenizer }
        return tokenizer.encode(text)
    }

    /// Submits every prompt or none: a refused prompt aborts those already submitted.
    private func submitAll(_ prompts: [[Int]], _ params: SamplingParams) throws -> [RequestStream] {
        let requests = prompts.map { EngineRequest(id: counter.next(), promptIDs: $0, params: params) }
        do {
            return try engine.submitAll(requests)
        } catch {
            throw LLMError.refused(promptIndex: error.index, error.error)
        }
    }

    /// Collects one request's stream into its `GenerationOutput`.
    static func gather(_ stream: RequestStream, prompt: [Int], index: Int) async throws -> GenerationOutput {
        var ids: [Int] = []
        var text = ""
        for try await output in stream {
            ids += output.newTokenIDs
            text += output.newText
            guard let reason = output.finishReason else { continue }
            guard let finish = reason.generationFinishReason else {
                try Task.checkCancellation()
                throw LLMError.aborted(promptIndex: index)
            }
            let metrics = output.metrics!
            let ttft = metrics.timeToFirstToken ?? metrics.endToEndSeconds
            let timings = GenerationTimings(
                promptTokens: prompt.count, prefillSeconds: ttft, decodeSteps: max(0, ids.count - 1),
                decodeSeconds: metrics.endToEndSeconds - ttft)
            return GenerationOutput(promptIDs: prompt, ids: ids, text: text, finishReason: finish, timings: timings)
        }
        try Task.checkCancellation()
        throw LLMError.aborted(promptIndex: index)
    }
}

public enum LLMError: Error, CustomStringConvertible {
    case noTokenizer
    case refused(promptIndex: Int, any Error)
    case aborted(promptIndex: Int)

    public var description: String {
        switch self {
        case .noTokenizer: "this model has no tokenizer (dummy weights?): give prompts as token ids"
        case .refused(let index, let error): "prompt \(index + 1): \(error)"
        case .aborted(let index): "prompt \(index + 1) was aborted before it finished"
        }
    }
}

/// Request ids unique within one `LLM`.
private final class RequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> String {
        lock.withLock {
            value += 1
            return "llm-\(value)"
        }
    }
}
