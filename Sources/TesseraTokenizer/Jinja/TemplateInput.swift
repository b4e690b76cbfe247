/// A value handed to a chat template from outside (a message with `tool_calls`, a tool's JSON
/// schema): JSON's kinds, with object members kept in the order given, as Python's dicts keep
/// them (so `tool | tojson` prints a schema as the client wrote it).
public indirect enum TemplateInput: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([TemplateInput])
    case object([TemplateMember])

    var jinja: JinjaValue {
        switch self {
        case .null: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .list(let items): return .list(items.map(\.jinja))
        case .object(let members):
            var dict = JinjaDict()
            for member in members { dict[member.key] = member.value.jinja }
            return .dict(dict)
        }
    }
}

/// A named struct, not a tuple (see `JinjaDict.Entry`).
public struct TemplateMember: Sendable, Equatable {
    public var key: String
    public var value: TemplateInput

    public init(_ key: String, _ value: TemplateInput) {
        self.key = key
        self.value = value
    }
}

extension Tokenizer {
    /// The chat template's source text (to see which variables it reads, e.g. `tools`).
    public var chatTemplateSource: String? { spec.chatTemplate }

    /// Renders the chat template with messages of any shape (`tool_calls`, `tool_call_id`, ...)
    /// and `tools` (nil: none), as `apply_chat_template(messages, tools=tools, tokenize=False)`.
    public func applyChatTemplate(
        messages: [TemplateInput], tools: [TemplateInput]?, addGenerationPrompt: Bool
    ) throws -> String {
        guard let parsed = template.parsed else { throw TokenizerError.missingChatTemplate }
        let template = try parsed.get()
        var variables: [String: JinjaValue] = [
            "messages": .list(messages.map(\.jinja)),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": tools.map { .list($0.map(\.jinja)) } ?? .none,
            "documents": .none,
        ]
        if let bos = spec.bosTokenID { variables["bos_token"] = .string(spec.tokens[bos]) }
        if let eos = spec.eosTokenID { variables["eos_token"] = .string(spec.tokens[eos]) }
        return try template.render(variables)
    }
}
