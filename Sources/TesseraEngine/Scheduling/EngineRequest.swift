/// One generation request as the engine core receives it.
public struct EngineRequest: Sendable {
    /// Unique among the engine's live requests; outputs and `abort` refer to it.
    public var id: String
    public var promptIDs: [Int]
    public var params: SamplingParams
    /// Token ids that end generation besides the model's end-of-sequence ids (ignored with
    /// `params.ignoreEOS`, like those).
    public var stopTokenIDs: Set<Int>

    public init(id: String, promptIDs: [Int], params: SamplingParams = SamplingParams(), stopTokenIDs: Set<Int> = []) {
        self.id = id
        self.promptIDs = promptIDs
        self.params = params
        self.stopTokenIDs = stopTokenIDs
    }
}

/// Why a request ended: `FinishReason` plus `abort` (the caller cancelled it).
public enum RequestFinishReason: String, Sendable, Codable {
    case stop, length, abort

    /// The finish reason of a completed generation; nil for an aborted one.
    public var generationFinishReason: FinishReason? {
        switch self {
        case .stop: .stop
        case .length: .length
        case .abort: nil
        }
    }
}

/// What one engine step produced for one request: the tokens and text new since the last
/// output. The last output of every request has `finishReason` and `metrics` set.
public struct RequestOutput: Sendable {
    public var requestID: String
    public var newTokenIDs: [Int]
    /// One entry per `newTokenIDs` entry when the request set `SamplingParams.logprobs`,
    /// otherwise empty.
    public var newLogprobs: [TokenLogprob] = []
    /// Newly visible text (never half a character, never part of a stop string); empty when
    /// the engine has no tokenizer.
    public var newText: String
    public var finishReason: RequestFinishReason?
    public var metrics: RequestMetrics?

    public var isFinished: Bool { finishReason != nil }
}

/// Timings and counts of one finished request, measured on the engine thread.
public struct RequestMetrics: Sendable {
    public var promptTokens: Int
    /// Prompt tokens found in the prefix cache at first admission (not recomputed).
    public var cachedPromptTokens: Int
    public var generatedTokens: Int
    public var preemptions: Int
    public var arrival: ContinuousClock.Instant
    public var firstToken: ContinuousClock.Instant?
    public var finished: ContinuousClock.Instant

    /// Seconds from arrival to the first generated token.
    public var timeToFirstToken: Double? { firstToken.map { seconds($0 - arrival) } }
    /// Mean seconds per generated token after the first; nil with fewer than two tokens.
    public var timePerOutputToken: Double? {
        guard let firstToken, generatedTokens > 1 else { return nil }
        return seconds(finished - firstToken) / Double(generatedTokens - 1)
    }
    public var endToEndSeconds: Double { seconds(finished - arrival) }

    private func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}
