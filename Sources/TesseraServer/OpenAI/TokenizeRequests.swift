import TesseraTokenizer

/// `POST /tokenize`, in vLLM's shape: a raw `prompt`, or chat `messages` rendered with the
/// model's template. `model` is optional; when given it must be the served one.
struct TokenizeRequest: Decodable {
    var model: String?
    var prompt: String?
    var messages: [ChatCompletionRequest.Message]?
    /// Default true for a prompt (BOS when the tokenizer adds one), false for messages (the
    /// template writes its own), as vLLM does.
    var addSpecialTokens: Bool?
    var addGenerationPrompt: Bool?
    /// Rendered into the prompt as a chat request renders them (see `ToolPrompt`).
    var tools: [AnyDecodable]?

    var involvesTools: Bool {
        !(tools ?? []).isEmpty || (messages ?? []).contains { $0.role == "tool" || !($0.toolCalls ?? []).isEmpty }
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, messages, tools
        case addSpecialTokens = "add_special_tokens", addGenerationPrompt = "add_generation_prompt"
    }
}

struct TokenizeResponse: Encodable {
    var count: Int
    var maxModelLen: Int
    var tokens: [Int]

    enum CodingKeys: String, CodingKey { case count, tokens, maxModelLen = "max_model_len" }
}

/// `POST /detokenize`: token ids back to text.
struct DetokenizeRequest: Decodable {
    var model: String?
    var tokens: [Int]
}

struct DetokenizeResponse: Encodable {
    var prompt: String
}
