import Foundation
import TesseraEngine
import TesseraTokenizer

/// What a chat request asks of tools: the functions, `tool_choice`, `parallel_tool_calls`, and
/// the call format of the model's family.
struct ToolPlan: Sendable {
    enum Choice: Sendable, Equatable { case auto, none, required, named(String) }

    var functions: [ToolFunction]
    /// The tools as the client sent them (`{"type": "function", "function": {...}}`), for the template.
    var given: [JSONValue]
    var choice: Choice
    var parallel: Bool
    var format: ToolCallFormat

    /// How the output is read: calls are looked for unless `tool_choice` is `none`.
    var parsing: ToolParsing? {
        guard !functions.isEmpty, choice != .none else { return nil }
        return ToolParsing(format: format, names: Set(functions.map(\.name)))
    }

    /// The functions a call is forced to: every one for `required`, the named one; none otherwise.
    var forced: [ToolFunction]? {
        switch choice {
        case .auto, .none: nil
        case .required: functions
        case .named(let name): functions.filter { $0.name == name }
        }
    }
}

/// How to read tool calls out of a chat answer.
struct ToolParsing: Sendable {
    var format: ToolCallFormat
    var names: Set<String>
}

extension RequestValidator {
    /// `tools`, `tool_choice` and `parallel_tool_calls` from the raw body (which keeps each
    /// schema's key order); a 400 naming the field at fault. Nil without tools.
    func toolPlan(_ request: ChatCompletionRequest, raw: JSONValue) throws(APIError) -> ToolPlan? {
        let format = ToolCallFormat.forTemplate(tokenizer.chatTemplateSource)
        var functions: [ToolFunction] = []
        var given: [JSONValue] = []
        if case .array(let tools)? = raw["tools"] {
            for (index, tool) in tools.enumerated() {
                let field = "tools[\(index)]"
                guard case .object = tool else { throw .invalid("'\(field)' must be an object.", param: field) }
                guard case .string(let type)? = tool["type"], type == "function" else {
                    throw .invalid("'\(field).type' must be 'function' (the only tool type supported), got \(tool["type"]?.compactText ?? "nothing").",
                                   param: "\(field).type")
                }
                guard let function = tool["function"], case .object = function else {
                    throw .invalid("'\(field).function' is required (an object with 'name' and 'parameters').", param: "\(field).function")
                }
                guard case .string(let name)? = function["name"], Self.isToolName(name) else {
                    throw .invalid("'\(field).function.name' must be 1 to 64 letters, digits, '_' or '-'.", param: "\(field).function.name")
                }
                if functions.contains(where: { $0.name == name }) {
                    throw .invalid("'\(field).function.name': two tools are named '\(name)'.", param: "\(field).function.name")
                }
                let parameters = function["parameters"] ?? .object([("type", .string("object")), ("properties", .object([]))])
                guard case .object = parameters else {
                    throw .invalid("'\(field).function.parameters' must be a JSON schema object.", param: "\(field).function.parameters")
                }
                functions.append(ToolFunction(name: name, parameters: parameters))
                given.append(tool)
            }
        }
        let choice = try toolChoice(raw["tool_choice"], names: functions.map(\.name))
        if functions.isEmpty {
            guard choice == .auto || choice == .none else {
                throw .invalid("'tool_choice' needs 'tools'.", param: "tool_choice")
            }
            return nil
        }
        let plan = ToolPlan(functions: functions, given: given, choice: choice, parallel: request.parallelToolCalls ?? true, format: format)
        // The constraint enforces the forced functions' schemas: refuse what it cannot enforce.
        for function in plan.forced ?? [] {
            do { _ = try JSONSchemaGrammar.toolCalls([function], format: format, parallel: false) } catch {
                let index = functions.firstIndex { $0.name == function.name }!
                let field = "tools[\(index)].function.parameters"
                let what = error.keyword.map { "uses the keyword '\($0)', which constrained decoding does not support" } ?? "cannot be used"
                throw .invalid("'\(field)' \(what) (needed to force the call with tool_choice): \(error.error)", param: field)
            }
        }
        return plan
    }

    /// The grammar that forces the plan's call(s), if `tool_choice` forces one.
    func toolGrammar(_ plan: ToolPlan) throws(APIError) -> JSONSchemaGrammar? {
        guard let forced = plan.forced, !forced.isEmpty else { return nil }
        do { return try JSONSchemaGrammar.toolCalls(forced, format: plan.format, parallel: plan.parallel) } catch {
            throw .invalid("'tools[\(error.toolIndex)].function.parameters' cannot be used: \(error.error)", param: "tools")
        }
    }

    static func isToolName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") }
    }

    private func toolChoice(_ value: JSONValue?, names: [String]) throws(APIError) -> ToolPlan.Choice {
        switch value {
        case nil, .null?: return .auto
        case .string("auto")?: return .auto
        case .string("none")?: return .none
        case .string("required")?: return .required
        case .object?:
            guard case .string("function")? = value?["type"] else {
                throw .invalid("'tool_choice.type' must be 'function'.", param: "tool_choice.type")
            }
            guard case .string(let name)? = value?["function"]?["name"] else {
                throw .invalid("'tool_choice.function.name' is required.", param: "tool_choice.function.name")
            }
            guard names.contains(name) else {
                let known = names.joined(separator: ", ")
                throw .invalid("'tool_choice.function.name' names '\(name)', which is not among 'tools' (\(known)).",
                               param: "tool_choice.function.name")
            }
            return .named(name)
        default:
            throw .invalid("'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}, got \(value!.compactText).",
                           param: "tool_choice")
        }
    }
}
