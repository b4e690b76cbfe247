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
}
