/// How to pick the next token and when to stop. Validated by `validate()` before use.
public struct SamplingParams: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float = 0
    /// 0 means no top-k cut.
    public var topK: Int = 0
    /// 1 means no nucleus cut.
    public var topP: Float = 1
    /// Seeds the sampler; the same seed, prompt and parameters give the same tokens.
    public var seed: UInt64 = 0
    public var maxTokens: Int = 128
    /// Generation stops before the first occurrence of any of these in the output text.
    public var stop: [String] = []
    /// Keep going past the model's end-of-sequence tokens.
    public var ignoreEOS: Bool = false
    /// Nil: no log-probabilities. 0...20: each output token comes with its log-probability and
    /// this many most likely alternatives (`RequestOutput.newLogprobs`), all taken from the
    /// model's raw distribution, before temperature, top-k and top-p (as vLLM reports them).
    public var logprobs: Int? = nil

    /// The most alternatives `logprobs` may ask for (OpenAI's limit for `top_logprobs`).
    public static let maxLogprobs = 20

    public init(
        temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0,
        maxTokens: Int = 128, stop: [String] = [], ignoreEOS: Bool = false, logprobs: Int? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.maxTokens = maxTokens
        self.stop = stop
        self.ignoreEOS = ignoreEOS
        self.logprobs = logprobs
    }

    public func validate() throws(SamplingParamsError) {
        guard temperature.isFinite, temperature >= 0 else { throw .invalid("temperature", "\(temperature)", "must be >= 0") }
        guard topK >= 0 else { throw .invalid("top_k", "\(topK)", "must be >= 0") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw .invalid("top_p", "\(topP)", "must be in (0, 1]") }
        guard maxTokens >= 1 else { throw .invalid("max_tokens", "\(maxTokens)", "must be >= 1") }
        guard !stop.contains("") else { throw .invalid("stop", "\"\"", "stop strings must not be empty") }
        if let logprobs, !(0...Self.maxLogprobs).contains(logprobs) {
            throw .invalid("logprobs", "\(logprobs)", "must be in 0...\(Self.maxLogprobs)")
        }
    }
}

public enum SamplingParamsError: Error, CustomStringConvertible, Equatable {
    case invalid(_ field: String, _ value: String, _ rule: String)

    public var description: String {
        switch self {
        case .invalid(let field, let value, let rule): "\(field)=\(value) is invalid: \(rule)"
        }
    }
}
