import Foundation

/// One turn of a conversation, as chat templates see it (`message['role']`, `message.content`).
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The model's chat template, parsed once when the tokenizer is built. A template that does not
/// parse does not stop the tokenizer from working; the error surfaces on first use.
struct TemplateBox: Sendable {
    let parsed: Result<JinjaTemplate, TokenizerError>?

    init(source: String?) {
        guard let source else {
            parsed = nil
            return
        }
        do {
            parsed = .success(try JinjaTemplate(source))
        } catch let error as TokenizerError {
            parsed = .failure(error)
        } catch {
            parsed = .failure(.templateSyntax(line: 1, column: 1, message: "\(error)"))
        }
    }
}

extension Tokenizer {
    public var hasChatTemplate: Bool { template.parsed != nil }

    /// Renders the chat template like `transformers`' `apply_chat_template(messages,
    /// tokenize=False, add_generation_prompt: ...)`: the template sees `messages`,
    /// `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and `documents` (none).
    public func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        try applyChatTemplate(messages, addGenerationPrompt: addGenerationPrompt, context: [:])
    }

    /// As above, with extra template variables (e.g. `["enable_thinking": false]` for Qwen3).
    /// Values may be String, Bool, Int, Double, arrays and `[String: Any]` dictionaries of these.
    public func applyChatTemplate(
        _ messages: [ChatMessage], addGenerationPrompt: Bool, context: [String: Any]
    ) throws -> String {
        guard let parsed = template.parsed else { throw TokenizerError.missingChatTemplate }
        let template = try parsed.get()
        var variables: [String: JinjaValue] = [
            "messages": .list(messages.map { message in
                var dict = JinjaDict()
                dict["role"] = .string(message.role)
                dict["content"] = .string(message.content)
                return .dict(dict)
            }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": .none,
            "documents": .none,
        ]
        if let bos = spec.bosTokenID { variables["bos_token"] = .string(spec.tokens[bos]) }
        if let eos = spec.eosTokenID { variables["eos_token"] = .string(spec.tokens[eos]) }
        for (key, value) in context { variables[key] = try Self.jinjaValue(value, key: key) }
        return try template.render(variables)
    }

    /// The prompt ids for a conversation: the rendered template encoded without adding BOS/EOS
    /// (the template writes its own), which is what `apply_chat_template(tokenize=True)` returns.
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> [Int] {
        encode(try applyChatTemplate(messages, addGenerationPrompt: addGenerationPrompt), addSpecialTokens: false)
    }

    /// Native Swift values by exact type first: on Linux `NSNumber(1) is Bool` is true, so
    /// JSONSerialization numbers are told apart by their `objCType` ("c" = boolean).
    private static func jinjaValue(_ value: Any, key: String) throws -> JinjaValue {
        switch value {
        case let b as Bool where type(of: value) == Bool.self: return .bool(b)
        case let i as Int where type(of: value) == Int.self: return .int(i)
        case let d as Double where type(of: value) == Double.self: return .double(d)
        case let s as String: return .string(s)
        case let n as NSNumber:
            switch String(cString: n.objCType) {
            case "c", "B": return .bool(n.boolValue)
            case "f", "d": return .double(n.doubleValue)
            default: return .int(n.intValue)
            }
        case is NSNull: return .none
        case let list as [Any]: return .list(try list.map { try jinjaValue($0, key: key) })
        case let dict as [String: Any]:
            var out = JinjaDict()
            for k in dict.keys.sorted() { out[k] = try jinjaValue(dict[k]!, key: key) }
            return .dict(out)
        case Optional<Any>.none: return .none
        default:
            throw TokenizerError.invalidSpec("chat template variable '\(key)' has unsupported type \(type(of: value))")
        }
    }
}
