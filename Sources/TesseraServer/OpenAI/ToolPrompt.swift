import TesseraEngine
import TesseraTokenizer

/// Renders a conversation that involves tools through the model's chat template, as
/// `apply_chat_template(messages, tools=tools)` would: messages keep `tool_calls` (arguments as
/// objects, not strings, as transformers' templates expect), `tool_call_id` and `name`.
///
/// A template that ignores tools would drop them silently, so what it does not handle is
/// written out in the model family's format instead: the tools as a system message (Hermes:
/// `<tools>` and `<tool_call>` instructions), earlier calls as `<tool_call>` blocks in the
/// assistant's content, tool results as user turns in `<tool_response>` blocks.
struct ToolPrompt {
    let source: String
    let format: ToolCallFormat

    init(templateSource: String?) {
        source = templateSource ?? ""
        format = ToolCallFormat.forTemplate(templateSource)
    }

    var readsTools: Bool { source.contains("tools") }
    var readsToolCalls: Bool { source.contains("tool_calls") }
    var readsToolRole: Bool { source.contains("\"tool\"") || source.contains("'tool'") }

    /// One validated message.
    struct Message {
        var role: String
        var content: String?
        var toolCalls: [(id: String, name: String, arguments: JSONValue)] = []
        var toolCallID: String?
        var name: String?
        /// A user turn made of tool results (for templates without a `tool` role).
        var toolResults = false
    }

    /// The template's `messages` and `tools`.
    func inputs(_ messages: [Message], tools: [JSONValue]?) -> (messages: [TemplateInput], tools: [TemplateInput]?) {
        var out: [Message] = []
        for message in messages {
            var message = message
            if !message.toolCalls.isEmpty && !readsToolCalls {
                let calls = message.toolCalls.map { callText(name: $0.name, arguments: $0.arguments) }.joined(separator: format == .hermes ? "\n" : "; ")
                message.content = [message.content ?? "", calls].filter { !$0.isEmpty }.joined(separator: "\n")
                message.toolCalls = []
            }
            if message.role == "tool" && !readsToolRole {
                let block = "<tool_response>\n" + (message.content ?? "") + "\n</tool_response>"
                if let last = out.last, last.toolResults {
                    out[out.count - 1].content = (last.content ?? "") + "\n" + block
                } else {
                    out.append(Message(role: "user", content: block, toolResults: true))
                }
                continue
            }
            out.append(message)
        }
        if let tools, !tools.isEmpty, !readsTools {
            let text = systemText(tools)
            if let first = out.first, first.role == "system" {
                out[0].content = [first.content ?? "", text].filter { !$0.isEmpty }.joined(separator: "\n\n")
            } else {
                out.insert(Message(role: "system", content: text), at: 0)
            }
        }
        let rendered = out.map { message -> TemplateInput in
            var members = [TemplateMember("role", .string(message.role)), TemplateMember("content", message.content.map(TemplateInput.string) ?? .null)]
            if !message.toolCalls.isEmpty {
                members.append(TemplateMember("tool_calls", .list(message.toolCalls.map { call in
                    .object([
                        TemplateMember("id", .string(call.id)), TemplateMember("type", .string("function")),
                        TemplateMember("function", .object([
                            TemplateMember("name", .string(call.name)), TemplateMember("arguments", Self.input(call.arguments)),
                        ])),
                    ])
                })))
            }
            if let id = message.toolCallID { members.append(TemplateMember("tool_call_id", .string(id))) }
            if let name = message.name { members.append(TemplateMember("name", .string(name))) }
            return .object(members)
        }
        return (rendered, readsTools ? tools?.map(Self.input) : nil)
    }

    /// A call as the model would write it.
    func callText(name: String, arguments: JSONValue) -> String {
        switch format {
        case .hermes:
            "<tool_call>\n{\"name\": \(JSONValue.string(name).compactText), \"arguments\": \(Self.spaced(arguments))}\n</tool_call>"
        case .llama3:
            "{\"name\": \(JSONValue.string(name).compactText), \"parameters\": \(Self.spaced(arguments))}"
        }
    }

    /// The system text that tells a model whose template ignores tools what it may call and how.
    func systemText(_ tools: [JSONValue]) -> String {
        let list = tools.map(Self.spaced).joined(separator: "\n")
        switch format {
        case .hermes:
            return """
                # Tools

                Functions you may call, within <tools></tools>:
                <tools>
                \(list)
                </tools>

                To call one, write (one block per call):
                <tool_call>
                {"name": <function-name>, "arguments": <arguments-json-object>}
                </tool_call>
                """
        case .llama3:
            return """
                You may call functions to help with the user's request. To call one, answer with nothing but a JSON object \
                {"name": <function-name>, "parameters": <arguments-json-object>}; separate several calls with "; ". The functions:

                \(list)
                """
        }
    }

    /// JSON with Python's `json.dumps` separators (", " and ": "), as templates print it.
    static func spaced(_ value: JSONValue) -> String {
        switch value {
        case .array(let items): "[" + items.map(spaced).joined(separator: ", ") + "]"
        case .object(let members): "{" + members.map { JSONValue.string($0.0).compactText + ": " + spaced($0.1) }.joined(separator: ", ") + "}"
        default: value.compactText
        }
    }

    static func input(_ value: JSONValue) -> TemplateInput {
        switch value {
        case .null: .null
        case .bool(let b): .bool(b)
        case .number(let text): Int(text).map(TemplateInput.int) ?? .double(Double(text) ?? 0)
        case .string(let s): .string(s)
        case .array(let items): .list(items.map(input))
        case .object(let members): .object(members.map { TemplateMember($0.0, input($0.1)) })
        }
    }
}
