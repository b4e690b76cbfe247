/// `POST /v1/completions`, as OpenAI defines it (plus vLLM's `top_k` and `ignore_eos`).
/// Fields this server cannot honour are decoded so that they can be refused by name.
struct CompletionRequest: Decodable {
    var model: String
    var prompt: PromptInput
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var seed: Int?
    var stop: StopInput?
    var n: Int?
    var logprobs: Int?
    var echo: Bool?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var ignoreEOS: Bool?
    var suffix: String?
    var bestOf: Int?
    var logitBias: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, seed, stop, n, logprobs, echo, stream, suffix
        case maxTokens = "max_tokens", topP = "top_p", topK = "top_k", streamOptions = "stream_options"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case ignoreEOS = "ignore_eos", bestOf = "best_of", logitBias = "logit_bias"
    }
}

/// `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable {
    struct Message: Decodable {
        var role: String
        var content: MessageContent?
    }

    var model: String
    var messages: [Message]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var seed: Int?
    var stop: StopInput?
    var n: Int?
    var logprobs: Bool?
    var topLogprobs: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var ignoreEOS: Bool?
    var logitBias: [String: Double]?
    var tools: [AnyDecodable]?
    var responseFormat: ResponseFormat?

    struct ResponseFormat: Decodable { var type: String }

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stop, n, logprobs, stream, tools
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p", topK = "top_k", topLogprobs = "top_logprobs", streamOptions = "stream_options"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case ignoreEOS = "ignore_eos", logitBias = "logit_bias", responseFormat = "response_format"
    }
}

/// Any JSON value, skipped (only its presence matters).
struct AnyDecodable: Decodable {
    init(from decoder: any Decoder) throws {}
}
