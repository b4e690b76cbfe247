/// How a model family writes a tool call in its output.
public enum ToolCallFormat: String, Sendable, Hashable {
    /// `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block per call, blocks
    /// separated by a newline (Hermes; Qwen2.5 and Qwen3's templates, and Tessera's default).
    case hermes
    /// The whole answer is `{"name": ..., "parameters": {...}}`; several calls separated by `; `
    /// (Llama 3.1/3.2's JSON tool calling).
    case llama3

    /// The format a chat template implies: Llama 3's for templates with Llama 3's header tokens,
    /// Hermes for every other.
    public static func forTemplate(_ source: String?) -> ToolCallFormat {
        guard let source else { return .hermes }
        return source.contains("<|start_header_id|>") ? .llama3 : .hermes
    }

    public static let hermesOpen = "<tool_call>"
    public static let hermesClose = "</tool_call>"
}

/// A function the model may call: its name and its parameters' JSON schema.
public struct ToolFunction: Sendable, Hashable {
    public var name: String
    public var parameters: JSONValue

    public init(name: String, parameters: JSONValue) {
        self.name = name
        self.parameters = parameters
    }

    public static func == (a: ToolFunction, b: ToolFunction) -> Bool {
        a.name == b.name && a.parameters.compactText == b.parameters.compactText
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(parameters.compactText)
    }
}
