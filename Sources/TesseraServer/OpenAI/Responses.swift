/// Response bodies of the OpenAI API. Optional fields left nil are omitted; those marked
/// `@NullWhenNil` are sent as null.

struct Usage: Encodable, Sendable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(promptTokens, forKey: .promptTokens)
        try container.encode(completionTokens, forKey: .completionTokens)
        try container.encode(totalTokens, forKey: .totalTokens)
    }
}

// MARK: - /v1/completions

struct CompletionResponse: Encodable {
    struct Choice: Encodable {
        var index: Int
        var text: String
        @NullWhenNil var logprobs: CompletionLogprobs?
        @NullWhenNil var finishReason: String?

        enum CodingKeys: String, CodingKey { case index, text, logprobs, finishReason = "finish_reason" }
    }

    var id: String
    var object = "text_completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
}

/// The legacy completions logprobs: parallel arrays.
struct CompletionLogprobs: Encodable {
    var tokens: [String] = []
    var tokenLogprobs: [Float] = []
    var topLogprobs: [[String: Float]] = []
    var textOffset: [Int] = []

    enum CodingKeys: String, CodingKey {
        case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }
}

// MARK: - /v1/chat/completions

struct ChatCompletionResponse: Encodable {
    struct Message: Encodable {
        var role = "assistant"
        /// Null when the answer is only tool calls.
        @NullWhenNil var content: String?
        /// Omitted when there are none.
        var toolCalls: [ToolCall]? = nil

        enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
    }

    struct ToolCall: Encodable {
        struct Function: Encodable {
            var name: String
            /// JSON text, as OpenAI sends it.
            var arguments: String
        }

        var id: String
        var type = "function"
        var function: Function
    }

    struct Choice: Encodable {
        var index: Int
        var message: Message
        @NullWhenNil var logprobs: ChatLogprobs?
        @NullWhenNil var finishReason: String?

        enum CodingKeys: String, CodingKey { case index, message, logprobs, finishReason = "finish_reason" }
    }

    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage
}

struct ChatCompletionChunk: Encodable {
    struct Delta: Encodable {
        var role: String?
        var content: String?
        var toolCalls: [ToolCallDelta]? = nil

        enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
    }

    /// A piece of a streamed call: the first carries `id`, `type` and the name (arguments ""),
    /// the next ones argument text; `index` says which call of the choice it belongs to.
    struct ToolCallDelta: Encodable {
        struct Function: Encodable {
            var name: String?
            var arguments: String?
        }

        var index: Int
        var id: String?
        var type: String?
        var function: Function
    }

    struct Choice: Encodable {
        var index: Int
        var delta: Delta
        @NullWhenNil var logprobs: ChatLogprobs?
        @NullWhenNil var finishReason: String?

        enum CodingKeys: String, CodingKey { case index, delta, logprobs, finishReason = "finish_reason" }
    }

    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
}

struct ChatLogprobs: Encodable {
    struct Entry: Encodable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
        var topLogprobs: [Alternative]

        enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
    }

    struct Alternative: Encodable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
    }

    var content: [Entry] = []
}

// MARK: - /v1/models

struct ModelList: Encodable {
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "tessera"
        var maxModelLen: Int

        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by", maxModelLen = "max_model_len" }
    }

    var object = "list"
    var data: [Model]
}
