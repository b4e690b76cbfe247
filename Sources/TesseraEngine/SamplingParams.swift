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
    /// OpenAI's penalties over the tokens generated so far (not the prompt), in -2...2:
    /// logit[t] -= presencePenalty * (count[t] > 0) + frequencyPenalty * count[t].
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    /// vLLM's (and transformers') penalty over every token of the prompt and of the output so
    /// far: such a token's logit is divided by it when positive, multiplied by it otherwise. 1: none.
    public var repetitionPenalty: Float = 1
    /// Added to the logits of these token ids (-100...100) before anything else.
    public var logitBias: [Int: Float] = [:]
    /// 0...1: after temperature, drop every token less likely than `minP` times the likeliest. 0: none.
    public var minP: Float = 0
    /// Token ids that end the output like an end-of-sequence token (kept out of the text),
    /// even with `ignoreEOS`.
    public var stopTokenIDs: Set<Int> = []
    /// Structured output: only tokens that keep the output a prefix of a JSON document this
    /// grammar accepts are drawn, and end-of-sequence only once the document is whole (then the
    /// output stops). Nil: unconstrained. Needs a tokenizer.
    public var constraint: JSONSchemaGrammar? = nil

    /// The most alternatives `logprobs` may ask for (OpenAI's limit for `top_logprobs`).
    public static let maxLogprobs = 20

    public init(
        temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0,
        maxTokens: Int = 128, stop: [String] = [], ignoreEOS: Bool = false, logprobs: Int? = nil,
        presencePenalty: Float = 0, frequencyPenalty: Float = 0, repetitionPenalty: Float = 1,
        logitBias: [Int: Float] = [:], minP: Float = 0, stopTokenIDs: Set<Int> = [],
        constraint: JSONSchemaGrammar? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.maxTokens = maxTokens
        self.stop = stop
        self.ignoreEOS = ignoreEOS
        self.logprobs = logprobs
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.logitBias = logitBias
        self.minP = minP
        self.stopTokenIDs = stopTokenIDs
        self.constraint = constraint
    }

    /// Whether the logits need changing before the draw (penalties or bias).
    var adjustsLogits: Bool {
        presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1 || !logitBias.isEmpty
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
        guard presencePenalty.isFinite, (-2...2).contains(presencePenalty) else {
            throw .invalid("presence_penalty", "\(presencePenalty)", "must be in -2...2")
        }
        guard frequencyPenalty.isFinite, (-2...2).contains(frequencyPenalty) else {
            throw .invalid("frequency_penalty", "\(frequencyPenalty)", "must be in -2...2")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw .invalid("repetition_penalty", "\(repetitionPenalty)", "must be > 0")
        }
        guard minP.isFinite, (0...1).contains(minP) else { throw .invalid("min_p", "\(minP)", "must be in 0...1") }
        for (token, bias) in logitBias.sorted(by: { $0.key < $1.key }) {
            guard token >= 0 else { throw .invalid("logit_bias", "\(token)", "token ids must be >= 0") }
            guard bias.isFinite, (-100...100).contains(bias) else {
                throw .invalid("logit_bias", "\(token): \(bias)", "biases must be in -100...100")
            }
        }
        if let bad = stopTokenIDs.sorted().first(where: { $0 < 0 }) {
            throw .invalid("stop_token_ids", "\(bad)", "token ids must be >= 0")
        }
    }

    /// `validate()` plus: every token id named (logit bias, stop ids) is below `vocabularySize`.
    public func validate(vocabularySize: Int) throws(SamplingParamsError) {
        try validate()
        if let bad = logitBias.keys.sorted().first(where: { $0 >= vocabularySize }) {
            throw .invalid("logit_bias", "\(bad)", "token id outside the vocabulary of \(vocabularySize)")
        }
        if let bad = stopTokenIDs.sorted().first(where: { $0 >= vocabularySize }) {
            throw .invalid("stop_token_ids", "\(bad)", "token id outside the vocabulary of \(vocabularySize)")
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
