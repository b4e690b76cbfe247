import Foundation
import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// Continuous batching: requests enter from any thread, one dedicated thread runs the steps.
///
/// Each step the scheduler picks decode tokens and prefill chunks of many sequences, the
/// executor runs them as one `ForwardBatch`, and each sequence that reached the end of its
/// known tokens samples its next token with its own seeded sampler. Every request's stream gets
/// its new tokens and text after each step and ends with a final output (finish reason
/// stop, length or abort) or, when the executor fails, with that error.
///
/// The loop runs on a `Thread`, not in Swift concurrency: `forward` is long blocking CPU work.
/// That thread keeps the engine alive: call `shutdown()` when done (`LLM` does on deinit).
public final class EngineCore: @unchecked Sendable {
    public typealias Stream = AsyncThrowingStream<RequestOutput, any Error>

    public let executor: any StepExecutor
    public let tokenizer: Tokenizer?
    public let options: EngineOptions
    /// Token ids that end a generation unless `ignoreEOS`: the model's and the tokenizer's EOS.
    public let endTokenIDs: Set<Int>
    /// Longest prompt + output: the model's (or `maxModelLen`), capped by the cache capacity.
    public let maxSequenceLength: Int

    // Shared with submitters, under `condition`.
    private let condition = NSCondition()
    private var inbox: [(EngineRequest, Stream.Continuation, ContinuousClock.Instant)] = []
    private var abortInbox: [String] = []
    /// Ids of requests not yet finished, each with the serial of its submission: a stream of a
    /// finished request that terminates late must not abort a new request reusing its id.
    private var liveIDs: [String: UInt64] = [:]
    private var submissions: UInt64 = 0
    private var stopping = false
    private var resetPrefixCacheRequested = false
    private var failure: EngineError?
    private var statsSnapshot = EngineStats()
    private var stopped = false

    // Engine thread only.
    private var scheduler: Scheduler
    private var live: [String: (sequence: EngineSequence, continuation: Stream.Continuation)] = [:]
    private var arrivals: UInt64 = 0
    private var counters = EngineStats()
    private let clock = ContinuousClock()

    public init(executor: any StepExecutor, tokenizer: Tokenizer?, options: EngineOptions = EngineOptions()) throws {
        try options.validate()
        guard executor.numBlocks >= 1 else { throw EngineError.noBlocks(numBlocks: executor.numBlocks) }
        self.executor = executor
        self.tokenizer = tokenizer
        self.options = options
        var end = Set(executor.config.eosTokenIDs)
        if let eos = tokenizer?.eosTokenID { end.insert(eos) }
        endTokenIDs = end
        let capacity = executor.numBlocks * executor.tokensPerBlock
        maxSequenceLength = min(options.maxModelLen ?? executor.config.maxPositionEmbeddings, capacity)
        scheduler = Scheduler(options: options, numBlocks: executor.numBlocks, blockSize: executor.blockSize, cp: executor.contextParallelSize)
        counters.numBlocks = executor.numBlocks
        counters.tokensPerBlock = executor.tokensPerBlock
        statsSnapshot = counters
        let thread = Thread { [self] in run() }
        thread.name = "tessera-engine"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queues a request; its outputs arrive on the returned stream. Throws at once for a
    /// request that can never run (bad ids, prompt too long, bad parameters, id in use).
    /// Cancelling the consumer of the stream aborts the request.
    public func submit(_ request: EngineRequest) throws(EngineError) -> Stream {
        try check(request)
        let (stream, continuation) = Stream.makeStream()
        let id = request.id
        condition.lock()
        let refusal: EngineError? =
            if let failure { failure } else if stopping { .stopped } else if liveIDs[id] != nil { .duplicateRequestID(id) } else { nil }
        submissions += 1
        let serial = submissions
        if refusal == nil {
            liveIDs[id] = serial
            inbox.append((request, continuation, clock.now))
            condition.signal()
        }
        condition.unlock()
        if let refusal { throw refusal }
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.abort(id, serial: serial) }
        }
        return stream
    }

    /// Ends a request wherever it is (queued, prefilling, decoding): its blocks are freed and
    /// its stream gets a final output with finish reason `abort`. Unknown ids are ignored.
    public func abort(_ id: String) {
        condition.withLock {
            abortInbox.append(id)
            condition.signal()
        }
    }

    /// Aborts `id` only while it is still the submission `serial` (its consumer went away).
    private func abort(_ id: String, serial: UInt64) {
        condition.withLock {
            guard liveIDs[id] == serial else { return }
            abortInbox.append(id)
            condition.signal()
        }
    }

    /// Counters after the last step.
    public var stats: EngineStats { condition.withLock { statsSnapshot } }

    /// Aborts every request and stops the engine thread; waits for it to exit.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    /// Drops cached prefix blocks nobody uses (between benchmark runs). Takes effect before the next step.
    public func resetPrefixCache() {
        condition.withLock {
            resetPrefixCacheRequested = true
            condition.signal()
        }
    }

    private func check(_ request: EngineRequest) throws(EngineError) {
        let id = request.id
        let prompt = request.promptIDs
        guard !prompt.isEmpty else { throw .emptyPrompt(requestID: id) }
        guard prompt.count < maxSequenceLength else {
            throw .promptTooLong(requestID: id, length: prompt.count, limit: maxSequenceLength)
        }
        let vocab = executor.config.vocabSize
        if let bad = prompt.first(where: { $0 < 0 || $0 >= vocab }) {
            throw .invalidTokenID(requestID: id, id: bad, vocabularySize: vocab)
        }
        do { try request.params.validate() } catch { throw .invalidParams(requestID: id, error.description) }
        if !request.params.stop.isEmpty && tokenizer == nil { throw .stopStringsNeedTokenizer(requestID: id) }
    }

    // MARK: - The engine thread

    private func run() {
        while true {
            condition.lock()
            while inbox.isEmpty && abortInbox.isEmpty && !stopping && !resetPrefixCacheRequested && !scheduler.hasWork {
                condition.wait()
            }
            let arrived = inbox
            let aborted = abortInbox
            let stop = stopping
            let reset = resetPrefixCacheRequested
            inbox = []
            abortInbox = []
            resetPrefixCacheRequested = false
            condition.unlock()

            // New requests first: an abort may name a request that arrived in the same batch.
            for (request, continuation, arrival) in arrived { accept(request, continuation, arrival) }
            var outputs: [(Stream.Continuation, RequestOutput, finished: Bool)] = []
            if reset { scheduler.resetPrefixCache() }
            for id in aborted {
                if let entry = live[id] { outputs.append((entry.continuation, end(entry.sequence, .abort), true)) }
            }
            if stop {
                for (sequence, continuation) in live.values { outputs.append((continuation, end(sequence, .abort), true)) }
                deliver(outputs)
                condition.withLock { stopped = true; condition.broadcast() }
                return
            }
            if scheduler.hasWork {
                do { try step(into: &outputs) } catch {
                    fail(error, pending: outputs)
                    return
                }
            }
            deliver(outputs)
        }
    }

    private func accept(_ request: EngineRequest, _ continuation: Stream.Continuation, _ arrival: ContinuousClock.Instant) {
        let output = OutputState(tokenizer: tokenizer, params: request.params, endTokens: endTokenIDs.union(request.stopTokenIDs))
        let sequence = EngineSequence(
            request: request, arrivalIndex: arrivals,
            maxNewTokens: min(request.params.maxTokens, maxSequenceLength - request.promptIDs.count),
            output: output, arrival: arrival)
        arrivals += 1
        live[request.id] = (sequence, continuation)
        scheduler.add(sequence)
    }

    /// One scheduled forward pass and the sampling after it.
    private func step(into outputs: inout [(Stream.Continuation, RequestOutput, finished: Bool)]) throws {
        let plan = scheduler.schedule()
        counters.preemptions = scheduler.preemptionCount
        counters.peakRunning = max(counters.peakRunning, scheduler.running.count)
        guard !plan.chunks.isEmpty else { return }
        let (batch, sampled) = plan.forwardBatch()
        let logits = try executor.forward(batch)
        let vocab = executor.config.vocabSize
        guard logits.shape == [sampled.count, vocab] else {
            throw EngineError.executorFailed("logits of shape \(logits.shape) for \(sampled.count) rows of a \(vocab)-token vocabulary")
        }
        scheduler.completed(plan)

        let now = clock.now
        logits.data.withUnsafeBufferPointer { all in
            for (row, sequence) in sampled.enumerated() {
                let rowLogits = UnsafeBufferPointer(rebasing: all[(row * vocab)..<((row + 1) * vocab)])
                let token = sequence.sampler.sample(rowLogits)
                sequence.append(token)
                if sequence.firstToken == nil { sequence.firstToken = now }
                let (text, stopped) = sequence.output.accept(token)
                var output = RequestOutput(requestID: sequence.id, newTokenIDs: [token], newText: text)
                if let top = sequence.sampler.params.logprobs {
                    output.newLogprobs = [Sampler.logprobs(rowLogits, token: token, top: top)]
                }
                let continuation = live[sequence.id]!.continuation
                if stopped || sequence.generatedCount >= sequence.maxNewTokens {
                    // The final output carries no tokens: fold its text, reason and metrics
                    // into this one, which keeps the last token and its logprob.
                    let final = end(sequence, stopped ? .stop : .length)
                    output.newText += final.newText
                    output.finishReason = final.finishReason
                    output.metrics = final.metrics
                    outputs.append((continuation, output, true))
                } else {
                    outputs.append((continuation, output, false))
                }
            }
        }
        counters.steps += 1
        counters.batchedTokens += batch.tokens.count
        counters.peakStepTokens = max(counters.peakStepTokens, batch.tokens.count)
    }

    /// Takes a sequence out of the engine (blocks freed) and makes its final output.
    private func end(_ sequence: EngineSequence, _ reason: RequestFinishReason) -> RequestOutput {
        scheduler.remove(sequence)
        live[sequence.id] = nil
        let text = reason == .abort ? "" : sequence.output.finish()
        let metrics = RequestMetrics(
            promptTokens: sequence.promptLength, cachedPromptTokens: sequence.cachedPromptTokens ?? 0,
            generatedTokens: sequence.generatedCount, preemptions: sequence.preemptions,
            arrival: sequence.arrival, firstToken: sequence.firstToken, finished: clock.now)
        return RequestOutput(requestID: sequence.id, newTokenIDs: [], newText: text, finishReason: reason, metrics: metrics)
    }

    /// Publishes the counters, then hands the outputs over: a consumer that sees a final
    /// output also sees its blocks freed in `stats`.
    private func deliver(_ outputs: [(Stream.Continuation, RequestOutput, finished: Bool)]) {
        refreshStats()
        condition.withLock {
            for (_, output, finished) in outputs where finished { liveIDs[output.requestID] = nil }
        }
        for (continuation, output, finished) in outputs {
            continuation.yield(output)
            if finished { continuation.finish() }
        }
    }

    private func refreshStats() {
        counters.blocksUsed = scheduler.blocks.usedCount
        counters.peakBlocksUsed = scheduler.peakBlocksUsed
        counters.cachedBlocks = scheduler.blocks.cachedCount
        counters.evictions = scheduler.blocks.evictions
        counters.running = scheduler.running.count
        counters.waiting = scheduler.waiting.count
        counters.preemptions = scheduler.preemptionCount
        counters.prefixQueryTokens = scheduler.prefixQueryTokens
        counters.prefixHitTokens = scheduler.prefixHitTokens
        let snapshot = counters
        condition.withLock { statsSnapshot = snapshot }
    }

    /// The executor failed: the ranks may be gone, so every request gets the error and the
    /// engine refuses new ones.
    private func fail(_ error: any Error, pending: [(Stream.Continuation, RequestOutput, finished: Bool)]) {
        for (continuation, output, finished) in pending where finished {
            continuation.yield(output)
            continuation.finish()
        }
        let finishedIDs = Set(pending.filter(\.finished).map(\.1.requestID))
        for (id, entry) in live where !finishedIDs.contains(id) {
            scheduler.remove(entry.sequence)
            entry.continuation.finish(throwing: error)
        }
        live = [:]
        refreshStats()
        let late = condition.withLock {
            failure = .executorFailed(String(describing: error))
            liveIDs = [:]
            defer { inbox = [] }
            return inbox
        }
        for (_, continuation, _) in late { continuation.finish(throwing: error) }
        condition.withLock { stopped = true; condition.broadcast() }
    }
}
