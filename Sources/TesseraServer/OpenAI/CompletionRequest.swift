/// A request body: the endpoint's own fields and the ones both endpoints share, read from the
/// same JSON object (so a field's coding path, and the 400 naming it, is the same either way).
struct RequestBody<Own: Decodable>: Decodable {
    let own: Own
    let shared: SharedRequestFields

    init(from decoder: any Decoder) throws {
        own = try Own(from: decoder)
        shared = try SharedRequestFields(from: decoder)
    }
}

/// The fields `/v1/completions` and `/v1/chat/completions` share: sampling (plus vLLM's `top_k`,
/// `min_p`, `repetition_penalty`, `stop_token_ids` and `ignore_eos`) and how to answer. Fields this server cannot honour are decoded so that
/// they can be refused by name.
struct SharedRequestFields: Decodable {
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var seed: Int?
    var stop: StopInput?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var ignoreEOS: Bool?
    var logitBias: [String: Double]?
    var repetitionPenalty: Double?
    var minP: Double?
    var stopTokenIDs: [Int]?
    /// Only `type` is decoded here; a JSON schema is read from the body itself (`RequestValidator.constraint`),
    /// which keeps its properties in the order written.
    var responseFormat: ResponseFormat?

    struct ResponseFormat: Decodable { var type: String }

    enum CodingKeys: String, CodingKey {
        case temperature, seed, stop, n, stream
        case maxTokens = "max_tokens", topP = "top_p", topK = "top_k", streamOptions = "stream_options"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case ignoreEOS = "ignore_eos", logitBias = "logit_bias"
        case repetitionPenalty = "repetition_penalty", minP = "min_p", stopTokenIDs = "stop_token_ids"
        case responseFormat = "response_format"
    }
}

/// `POST /v1/completions`, as OpenAI defines it: its own fields (the shared ones are in
/// `SharedRequestFields`).
struct CompletionRequest: Decodable {
    var model: String
    var prompt: PromptInput
    var logprobs: Int?
    var echo: Bool?
    var suffix: String?
    var bestOf: Int?

    enum CodingKeys: String, CodingKey {
        case model, prompt, logprobs, echo, suffix, bestOf = "best_of"
    }
}

/// `POST /v1/chat/completions`: its own fields.
struct ChatCompletionRequest: Decodable {
    struct Message: Decodable {
        var role: String
        var content: MessageContent?
        /// Assistant turns that called tools; read from the raw body (`ToolRequests`), which
        /// keeps the arguments' key order.
        var toolCalls: [AnyDecodable]?
        /// Role `tool`: the call this message answers.
        var toolCallID: String?
        var name: String?

        enum CodingKeys: String, CodingKey {
            case role, content, name
            case toolCalls = "tool_calls", toolCallID = "tool_call_id"
        }
    }

    var model: String
    var messages: [Message]
    var maxCompletionTokens: Int?
    var logprobs: Bool?
    var topLogprobs: Int?
    /// Read from the raw body (`ToolRequests`), which keeps each schema's key order.
    var tools: [AnyDecodable]?
    var toolChoice: AnyDecodable?
    var parallelToolCalls: Bool?

    enum CodingKeys: String, CodingKey {
        case model, messages, logprobs, tools
        case maxCompletionTokens = "max_completion_tokens", topLogprobs = "top_logprobs"
        case toolChoice = "tool_choice", parallelToolCalls = "parallel_tool_calls"
    }

    /// Whether the request needs the tool-aware rendering: tools, or tool turns in the history.
    var involvesTools: Bool {
        !(tools ?? []).isEmpty || messages.contains { $0.role == "tool" || !($0.toolCalls ?? []).isEmpty }
    }
}

/// Any JSON value, skipped (only its presence matters).
struct AnyDecodable: Decodable {
    init(from decoder: any Decoder) throws {}
}
