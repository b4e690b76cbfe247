import TesseraEngine

/// A validated request: the prompts as token ids, how to sample them, how to answer.
struct GenerationJob: Sendable {
    enum Kind: Sendable { case completion, chat }

    let kind: Kind
    let model: String
    let prompts: [[Int]]
    /// Choices per prompt; choice `i` of prompt `p` has index `p * n + i`, as OpenAI numbers them.
    let n: Int
    /// The parameters of choice 0; choice `i` samples with seed `seed + i`.
    let params: SamplingParams
    let stream: Bool
    let includeUsage: Bool
    /// Alternatives reported per token; nil when no logprobs were asked for.
    let logprobs: Int?
    /// Completions with `echo`: each prompt's text, put before its choices' output.
    var echoTexts: [String]? = nil
    /// Chats with tools (unless `tool_choice` is none): how to read calls out of the output.
    var toolParsing: ToolParsing? = nil

    var choiceCount: Int { prompts.count * n }

    func prompt(ofChoice index: Int) -> [Int] { prompts[index / n] }

    /// The text `echo` puts before choice `index`'s output ("" without echo).
    func echo(ofChoice index: Int) -> String { echoTexts?[index / n] ?? "" }

    func params(ofChoice index: Int) -> SamplingParams {
        var params = params
        params.seed = params.seed &+ UInt64(index % n)
        return params
    }
}
