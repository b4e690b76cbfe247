import Foundation
import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// One request's outputs, as `EngineCore.submit` returns them. Cancelling its consumer (or
/// dropping the stream unread) aborts the request.
public typealias RequestStream = AsyncThrowingStream<RequestOutput, any Error>

/// Continuous batching: requests enter the mailbox from any thread, one dedicated thread runs
/// the loop and delivers each request's outputs to its `RequestStream`.
///
/// Each step the scheduler picks decode tokens and prefill chunks of many sequences, the
/// executor runs them as one `ForwardBatch`, and the `OutputProcessor` turns the logits of each
/// sequence that reached the end of its known tokens into its next token, text and stop
/// decision. Every request's stream gets its new tokens and text after each step and ends with
/// a final output (finish reason stop, length or abort) or, when the executor fails, with that error.
///
/// The loop runs on a `Thread`, not in Swift concurrency: `forward` is long blocking CPU work.
/// That thread keeps the engine alive: call `shutdown()` when done (`LLM` does on deinit).
public final class EngineCore: @unchecked Sendable {
    public let executor: any StepExecutor
    public let tokenizer: Tokenizer?
    public let options: EngineOptions
    /// Longest prompt + output: ``ModelConfig/maxModelLen(requested:)`` of `options.maxModelLen`
    /// (above the model's maximum is refused), capped by the cache capacity.
    public let maxSequenceLength: Int

    // Shared with submitters, under `condition`.
    private let condition = NSCondition()
    private var inbox: [(EngineRequest, RequestStream.Continuation, ContinuousClock.Instant)] = []
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
    private var live: [String: (sequence: EngineSequence, continuation: RequestStream.Continuation)] = [:]
    private var processor: OutputProcessor
    private var arrivals: UInt64 = 0
    private var counters = EngineStats()
    private let clock = ContinuousClock()

    public init(executor: any StepExecutor, tokenizer: Tokenizer?, options: EngineOptions = EngineOptions()) throws {
        try options.validate()
        guard executor.numBlocks >= 1 else { throw EngineError.noBlocks(numBlocks: executor.numBlocks) }
        self.executor = executor
        self.tokenizer = tokenizer
        self.options = options
        processor = OutputProcessor(tokenizer: tokenizer, config: executor.config)
        let capacity = executor.numBlocks * executor.tokensPerBlock
        let maxModelLen = try executor.config.maxModelLen(requested: options.maxModelLen)
        let window = executor.config.slidingWindow
        // With a sliding window a sequence holds at most the window, one step's tokens and a
        // block at each end: when that fits, the cache does not bound the length.
        let windowFits = window.map { $0 + options.maxNumBatchedTokens + 2 * executor.tokensPerBlock <= capacity } ?? false
        maxSequenceLength = windowFits ? maxModelLen : min(maxModelLen, capacity)
        scheduler = Scheduler(options: options, numBlocks: executor.numBlocks, blockSize: executor.blockSize,
                              cp: executor.contextParallelSize, slidingWindow: window)
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
    public func submit(_ request: EngineRequest) throws(EngineError) -> RequestStream {
        try check(request)
        let (stream, continuation) = RequestStream.makeStream()
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

    /// Submits every request or none: when one is refused, those before it are aborted and
    /// the refusal names it. The streams are in the order of `requests`.
    public func submitAll(_ requests: [EngineRequest]) throws(SubmissionRefused) -> [RequestStream] {
        var streams: [RequestStream] = []
        for (index, request) in requests.enumerated() {
            do {
                streams.append(try submit(request))
            } catch {
                for earlier in requests[..<index] { abort(earlier.id) }
                throw SubmissionRefused(index: index, error: error)
            }
        }
        return streams
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
        if request.params.constraint != nil && tokenizer == nil {
            throw .invalidParams(requestID: id, "a JSON constraint needs a tokenizer, and this engine has none")
        }
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
            var deliveries: [Delivery] = []
            if reset { scheduler.resetPrefixCache() }
            for id in aborted {
                if let sequence = live[id]?.sequence { deliveries.append(end(sequence, .abort)) }
            }
            if stop {
                for entry in live.values { deliveries.append(end(entry.sequence, .abort)) }
                deliver(deliveries)
                condition.withLock { stopped = true; condition.broadcast() }
                return
            }
            if scheduler.hasWork {
                do { try step(into: &deliveries) } catch {
                    fail(error, pending: deliveries)
                    return
                }
            }
            deliver(deliveries)
        }
    }

    private func accept(_ request: EngineRequest, _ continuation: RequestStream.Continuation, _ arrival: ContinuousClock.Instant) {
        processor.add(request)
        let sequence = EngineSequence(
            request: request, arrivalIndex: arrivals,
            maxNewTokens: min(request.params.maxTokens, maxSequenceLength - request.promptIDs.count),
            arrival: arrival)
        arrivals += 1
        live[request.id] = (sequence, continuation)
        scheduler.add(sequence)
    }

    /// One scheduled forward pass and the sampling after it.
    private func step(into deliveries: inout [Delivery]) throws {
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
                let (token, output, stopped) = processor.next(sequence.id, logits: rowLogits)
                sequence.append(token)
                if sequence.firstToken == nil { sequence.firstToken = now }
                if stopped || sequence.generatedCount >= sequence.maxNewTokens {
                    deliveries.append(end(sequence, stopped ? .stop : .length, last: output))
                } else {
                    deliveries.append(Delivery(continuation: live[sequence.id]!.continuation, output: output))
                }
            }
        }
        counters.steps += 1
        counters.batchedTokens += batch.tokens.count
        counters.peakStepTokens = max(counters.peakStepTokens, batch.tokens.count)
    }

    /// Takes a sequence out of the engine (blocks freed) and makes its final output: `last`, the
    /// output of the token that ended it if one did, plus the text held back till now (none
    /// when aborted), the reason and the metrics.
    private func end(_ sequence: EngineSequence, _ reason: RequestFinishReason, last: RequestOutput? = nil) -> Delivery {
        scheduler.remove(sequence)
        let continuation = live.removeValue(forKey: sequence.id)!.continuation
        let heldBack = processor.finish(sequence.id)
        var output = last ?? RequestOutput(requestID: sequence.id, newTokenIDs: [], newText: "")
        if reason != .abort { output.newText += heldBack }
        output.finishReason = reason
        output.metrics = RequestMetrics(
            promptTokens: sequence.promptLength, cachedPromptTokens: sequence.cachedPromptTokens ?? 0,
            generatedTokens: sequence.generatedCount, preemptions: sequence.preemptions,
            arrival: sequence.arrival, firstToken: sequence.firstToken, finished: clock.now)
        return Delivery(continuation: continuation, output: output)
    }

    /// An output and the stream it goes to; a final output ends the stream.
    private struct Delivery {
        let continuation: RequestStream.Continuation
        let output: RequestOutput
    }

    /// Publishes the counters, then hands the outputs over: a consumer that sees a final
    /// output also sees its blocks freed in `stats`.
    private func deliver(_ deliveries: [Delivery]) {
        refreshStats()
        condition.withLock {
            for delivery in deliveries where delivery.output.isFinished { liveIDs[delivery.output.requestID] = nil }
        }
        for delivery in deliveries {
            delivery.continuation.yield(delivery.output)
            if delivery.output.isFinished { delivery.continuation.finish() }
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
    private func fail(_ error: any Error, pending: [Delivery]) {
        for delivery in pending where delivery.output.isFinished {
            delivery.continuation.yield(delivery.output)
            delivery.continuation.finish()
        }
        // Requests that ended (above) have left `live` already.
        for entry in live.values {
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

/// `EngineCore.submitAll` refused the request at `index`; the ones before it were aborted.
public struct SubmissionRefused: Error, CustomStringConvertible {
    public let index: Int
    public let error: EngineError

    public var description: String { "request \(index + 1) of the group: \(error)" }
}
