/// Why a generation ended, in OpenAI's words.
public enum FinishReason: String, Sendable, Codable {
    /// An end-of-sequence token or a stop string.
    case stop
    /// `maxTokens` reached, or the model's maximum length.
    case length
}

/// The result of one prompt.
public struct GenerationOutput: Sendable {
    public var promptIDs: [Int]
    /// Generated token ids, including an end-of-sequence token that ended the output.
    public var ids: [Int]
    /// Generated text, cut before a stop string; special tokens are not shown.
    public var text: String
    public var finishReason: FinishReason
    public var timings: GenerationTimings
}

/// Wall-clock split of one generation: the prompt's forward passes (which also yield the first
/// token) and the decode steps after it.
public struct GenerationTimings: Sendable, Codable {
    public var promptTokens: Int
    public var prefillSeconds: Double
    /// Forward passes after the first token: generated tokens minus one.
    public var decodeSteps: Int
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
    public var decodeTokensPerSecond: Double { decodeSteps == 0 ? 0 : Double(decodeSteps) / decodeSeconds }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", prefillSeconds = "prefill_s", decodeSteps = "decode_steps", decodeSeconds = "decode_s"
    }
}
