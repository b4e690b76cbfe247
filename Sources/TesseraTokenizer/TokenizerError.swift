/// What went wrong building a tokenizer or rendering a chat template, naming the input at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The `TokenizerSpec` itself is inconsistent (a merge names a token that does not exist...).
    case invalidSpec(String)
    /// A tokenizer file is unreadable or a field holds something unexpected or unsupported.
    case invalidFile(file: String, field: String, problem: String)
    /// `applyChatTemplate` on a tokenizer that has no template.
    case missingChatTemplate
    /// The template text cannot be parsed (1-based line and column).
    case templateSyntax(line: Int, column: Int, message: String)
    /// The template failed while rendering (unknown filter, wrong type...).
    case templateRuntime(line: Int, column: Int, message: String)
    /// The template called `raise_exception(message)`.
    case templateException(String)

    public var description: String {
        switch self {
        case .invalidSpec(let problem):
            "invalid tokenizer spec: \(problem)"
        case .invalidFile(let file, let field, let problem):
            "\(file): \(field): \(problem)"
        case .missingChatTemplate:
            "the tokenizer has no chat template"
        case .templateSyntax(let line, let column, let message):
            "chat template syntax error at line \(line), column \(column): \(message)"
        case .templateRuntime(let line, let column, let message):
            "chat template error at line \(line), column \(column): \(message)"
        case .templateException(let message):
            "chat template raised an exception: \(message)"
        }
    }

    static func unknownMergeToken(rank: Int, token: String) -> TokenizerError {
        .invalidSpec("merge \(rank) needs token \"\(token)\", which is not in the vocabulary")
    }
}
