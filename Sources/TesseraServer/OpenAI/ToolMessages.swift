import TesseraEngine
import TesseraTokenizer

extension RequestValidator {
    /// The messages of a chat that involves tools, from the raw body: roles system, developer
    /// (as system), user, assistant (content may be null when it carries `tool_calls`, whose
    /// `arguments` strings must hold JSON objects) and tool (with `tool_call_id`).
    func toolMessages(_ raw: JSONValue) throws(APIError) -> [ToolPrompt.Message] {
        guard case .array(let given)? = raw["messages"], !given.isEmpty else {
            throw .invalid("'messages' must contain at least one message.", param: "messages")
        }
        var messages: [ToolPrompt.Message] = []
        for (index, message) in given.enumerated() {
            let field = "messages[\(index)]"
            guard case .string(var role)? = message["role"] else { throw .invalid("'\(field).role' is required.", param: "\(field).role") }
            switch role {
            case "system", "user", "assistant", "tool": break
            case "developer": role = "system"
            default:
                throw .invalid("'\(field).role' must be one of system, developer, user, assistant, tool; got '\(role)'.",
                               param: "\(field).role")
            }
            var out = ToolPrompt.Message(role: role, content: try content(message["content"], field: "\(field).content"))
            if case .array(let calls)? = message["tool_calls"], !calls.isEmpty {
                guard role == "assistant" else {
                    throw .invalid("'\(field).tool_calls' belongs to assistant messages.", param: "\(field).tool_calls")
                }
                for (j, call) in calls.enumerated() {
                    let callField = "\(field).tool_calls[\(j)]"
                    guard case .string(let name)? = call["function"]?["name"] else {
                        throw .invalid("'\(callField).function.name' is required.", param: "\(callField).function.name")
                    }
                    let arguments: JSONValue
                    switch call["function"]?["arguments"] {
                    case .string(let text)?:
                        guard let parsed = try? JSONValue.parse(text), case .object = parsed else {
                            throw .invalid("'\(callField).function.arguments' must be a string holding a JSON object.",
                                           param: "\(callField).function.arguments")
                        }
                        arguments = parsed
                    case .object(let members)?: arguments = .object(members)
                    case nil, .null?: arguments = .object([])
                    default:
                        throw .invalid("'\(callField).function.arguments' must be a string holding a JSON object.",
                                       param: "\(callField).function.arguments")
                    }
                    var id = "call_\(j)"
                    if case .string(let given)? = call["id"] { id = given }
                    out.toolCalls.append((id: id, name: name, arguments: arguments))
                }
            } else if out.content == nil {
                throw .invalid("'\(field).content' is required.", param: "\(field).content")
            }
            if role == "tool" {
                guard case .string(let id)? = message["tool_call_id"] else {
                    throw .invalid("'\(field).tool_call_id' is required for role 'tool'.", param: "\(field).tool_call_id")
                }
                out.toolCallID = id
            }
            if case .string(let name)? = message["name"] { out.name = name }
            messages.append(out)
        }
        return messages
    }

    /// The rendered prompt text of a chat that involves tools.
    func toolChatText(_ raw: JSONValue, plan: ToolPlan?, addGenerationPrompt: Bool) throws(APIError) -> String {
        let messages = try toolMessages(raw)
        guard tokenizer.hasChatTemplate else {
            throw .invalid("The model '\(modelName)' ships no chat template: use /v1/completions.", param: "messages")
        }
        let prompt = ToolPrompt(templateSource: tokenizer.chatTemplateSource)
        let (inputs, tools) = prompt.inputs(messages, tools: plan?.given)
        do {
            return try tokenizer.applyChatTemplate(messages: inputs, tools: tools, addGenerationPrompt: addGenerationPrompt)
        } catch {
            throw .invalid("The chat template failed on these messages: \(error)", param: "messages")
        }
    }

    /// Text content: a string, text parts joined, or nil (null or absent).
    private func content(_ value: JSONValue?, field: String) throws(APIError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case .array(let parts)?:
            var text = ""
            for (index, part) in parts.enumerated() {
                guard case .string("text")? = part["type"], case .string(let piece)? = part["text"] else {
                    throw .invalid("'\(field)[\(index)]': only text content parts are supported.", param: "\(field)[\(index)]")
                }
                text += piece
            }
            return text
        default:
            throw .invalid("'\(field)' must be a string or an array of content parts.", param: field)
        }
    }
}
