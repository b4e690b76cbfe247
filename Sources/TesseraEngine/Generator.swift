import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// Runs one sequence at a time through the model runner: chunked prefill, then decode steps,
/// all through the paged (and, with cp > 1, context-parallel) KV cache. Continuous batching of
/// many sequences builds on this.
public final class Generator {
    public let runner: ModelRunner
    public let tokenizer: Tokenizer
    private var allocator: BlockAllocator
    /// Prompt tokens per forward pass during prefill; bounds activation memory.
    public let prefillChunk: Int

    public init(runner: ModelRunner, tokenizer: Tokenizer, prefillChunk: Int = 512) {
        self.runner = runner
        self.tokenizer = tokenizer
        self.allocator = BlockAllocator(numBlocks: runner.numBlocks, blockSize: runner.parallel.blockSize)
        self.prefillChunk = prefillChunk
    }

    private var config: ModelConfig { runner.config }

    /// End-of-sequence ids of the model and its tokenizer.
    public var eosTokenIDs: Set<Int> {
        var ids = Set(config.eosTokenIDs)
        if let eos = tokenizer.eosTokenID { ids.insert(eos) }
        return ids
    }

    /// Generates a continuation of `promptIDs`, calling `onText` with each newly visible piece
    /// of text (never half a character, never part of a stop string).
    public func generate(
        promptIDs: [Int], params: SamplingParams, onText: (String) -> Void = { _ in }
    ) throws -> GenerationOutput {
        try params.validate()
        let limits = try GenerationLimits(
            promptLength: promptIDs.count, maxTokens: params.maxTokens,
            maxModelLength: config.maxPositionEmbeddings, cacheCapacity: runner.capacityTokens
        )
        try checkTokenIDs(promptIDs)
        let blocks = try allocator.allocate(runner.blocksNeeded(tokens: limits.totalLength))
        defer { allocator.release(blocks) }

        var sampler = Sampler(params: params)
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var stops = StopStringMatcher(stops: params.stop)
        let eos = params.ignoreEOS ? [] : eosTokenIDs
        var generated: [Int] = []
        let clock = ContinuousClock()
        let started = clock.now
        var logits = try prefill(promptIDs, blockTable: blocks)
        let prefilled = clock.now
        var finish = FinishReason.length

        while true {
            let token = logits.data.withUnsafeBufferPointer { sampler.sample($0) }
            generated.append(token)
            if eos.contains(token) { finish = .stop; break }
            onText(stops.append(decoder.append(token)))
            if stops.stopped { finish = .stop; break }
            if generated.count == limits.maxNewTokens { break }
            let position = promptIDs.count + generated.count - 1
            logits = try step(tokens: [token], start: position, blockTable: blocks)
        }
        if !stops.stopped { onText(stops.append(decoder.finish()) + stops.finish()) }
        let timings = GenerationTimings(
            promptTokens: promptIDs.count, prefillSeconds: (prefilled - started).seconds,
            decodeSteps: generated.count - 1, decodeSeconds: (clock.now - prefilled).seconds
        )
        return GenerationOutput(promptIDs: promptIDs, ids: generated, text: stops.fullText, finishReason: finish, timings: timings)
    }

    /// Runs the prompt in chunks; returns the logits of its last token.
    private func prefill(_ promptIDs: [Int], blockTable: [Int]) throws -> Tensor {
        var start = 0
        var logits: Tensor?
        while start < promptIDs.count {
            let end = min(start + prefillChunk, promptIDs.count)
            logits = try step(tokens: Array(promptIDs[start..<end]), start: start, blockTable: blockTable)
            start = end
        }
        return logits!
    }

    /// One forward pass of `tokens` at positions `start...`, with `start` tokens already cached.
    private func step(tokens: [Int], start: Int, blockTable: [Int]) throws -> Tensor {
        let batch = ForwardBatch(
            tokens: tokens,
            positions: Array(start..<(start + tokens.count)),
            sequences: [SequenceSpan(tokenRange: 0..<tokens.count, contextLength: start, blockTable: blockTable)],
            logitIndices: [tokens.count - 1]
        )
        return try runner.forward(batch)
    }

    private func checkTokenIDs(_ ids: [Int]) throws(GenerationError) {
        let vocab = config.vocabSize
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocab }) {
            throw .invalidTokenID(bad, vocabularySize: vocab)
        }
    }
}

/// How many tokens a request may generate, checked before any work is done.
struct GenerationLimits {
    let maxNewTokens: Int
    var totalLength: Int

    init(promptLength: Int, maxTokens: Int, maxModelLength: Int, cacheCapacity: Int) throws(GenerationError) {
        guard promptLength > 0 else { throw .emptyPrompt }
        let limit = min(maxModelLength, cacheCapacity)
        guard promptLength < limit else {
            throw .promptTooLong(promptLength, maxModelLength: limit)
        }
        maxNewTokens = min(maxTokens, limit - promptLength)
        totalLength = promptLength + maxNewTokens
    }
}

public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(Int, maxModelLength: Int)
    case invalidTokenID(Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .emptyPrompt:
            "the prompt is empty: give at least one token"
        case .promptTooLong(let length, let max):
            "the prompt has \(length) tokens; the model's maximum length is \(max), leaving no room to generate"
        case .invalidTokenID(let id, let vocab):
            "token id \(id) is outside the vocabulary (0..<\(vocab))"
        }
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
