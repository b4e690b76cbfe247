/// How the engine core batches and caches. Validated once when the engine starts.
public struct EngineOptions: Sendable, Equatable {
    /// Tokens per step across all sequences (decode tokens plus prefill chunks).
    public var maxNumBatchedTokens: Int
    /// Sequences running at once.
    public var maxNumSeqs: Int
    /// Reuse the KV blocks of earlier requests' identical prefixes.
    public var enablePrefixCaching: Bool
    /// Longest sequence (prompt + output); nil: the model's maximum. Always capped by the cache.
    public var maxModelLen: Int?
    /// Share of the blocks kept free when admitting a new sequence while others run, so
    /// running decodes do not immediately preempt what was just admitted.
    public var admissionWatermark: Double

    public init(
        maxNumBatchedTokens: Int = 512, maxNumSeqs: Int = 64, enablePrefixCaching: Bool = true,
        maxModelLen: Int? = nil, admissionWatermark: Double = 0.01
    ) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.enablePrefixCaching = enablePrefixCaching
        self.maxModelLen = maxModelLen
        self.admissionWatermark = admissionWatermark
    }

    /// Every running sequence may need a decode token per step: with `maxNumBatchedTokens >=
    /// maxNumSeqs` a sequence still prefilling always gets at least one token (no starvation).
    public func validate() throws(EngineError) {
        guard maxNumSeqs >= 1 else { throw .invalidOption("max_num_seqs=\(maxNumSeqs) must be >= 1") }
        guard maxNumBatchedTokens >= maxNumSeqs else {
            throw .invalidOption("max_num_batched_tokens=\(maxNumBatchedTokens) must be >= max_num_seqs=\(maxNumSeqs)")
        }
        if let maxModelLen, maxModelLen < 2 { throw .invalidOption("max_model_len=\(maxModelLen) must be >= 2") }
        guard admissionWatermark >= 0, admissionWatermark < 1 else {
            throw .invalidOption("admission_watermark=\(admissionWatermark) must be in [0, 1)")
        }
    }
}

/// Why the engine refused a request or stopped.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case duplicateRequestID(String)
    case emptyPrompt(requestID: String)
    case promptTooLong(requestID: String, length: Int, limit: Int)
    case invalidTokenID(requestID: String, id: Int, vocabularySize: Int)
    case invalidParams(requestID: String, String)
    case stopStringsNeedTokenizer(requestID: String)
    case noBlocks(numBlocks: Int)
    case stopped
    /// The executor failed; every request then in the engine gets this error.
    case executorFailed(String)

    public var description: String {
        switch self {
        case .invalidOption(let why): "invalid engine option: \(why)"
        case .duplicateRequestID(let id): "request id '\(id)' is already in use"
        case .emptyPrompt(let id): "request '\(id)': the prompt is empty: give at least one token"
        case .promptTooLong(let id, let length, let limit):
            "request '\(id)': the prompt has \(length) tokens; the limit is \(limit) (max model length and KV cache capacity), leaving no room to generate"
        case .invalidTokenID(let id, let token, let vocab):
            "request '\(id)': token id \(token) is outside the vocabulary (0..<\(vocab))"
        case .invalidParams(let id, let why): "request '\(id)': \(why)"
        case .stopStringsNeedTokenizer(let id): "request '\(id)': stop strings need a tokenizer, and this engine has none"
        case .noBlocks(let n): "the KV cache has \(n) blocks; at least one is needed"
        case .stopped: "the engine has stopped"
        case .executorFailed(let why): "the model failed: \(why)"
        }
    }
}
