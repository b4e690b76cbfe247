extension JSONSchemaGrammar {
    /// The most calls one constrained answer holds with parallel calls: the grammar is unrolled
    /// (a model that never stops calling would otherwise run to max_tokens mid-call).
    public static let maxParallelCalls = 8

    /// The language of tool calls in `format`, one call (or, with `parallel`, 1 to
    /// `maxParallelCalls` calls) to one of `tools`, each call's arguments valid against that
    /// function's parameter schema. Constrained decoding with this grammar always produces a
    /// call that parses (unless cut by max_tokens).
    ///
    /// Throws naming the first schema keyword that cannot be enforced, with its path inside
    /// the tool list (`tools[1].function.parameters/properties/x`).
    public static func toolCalls(
        _ tools: [ToolFunction], format: ToolCallFormat, parallel: Bool
    ) throws(ToolGrammarError) -> JSONSchemaGrammar {
        precondition(!tools.isEmpty, "a tool-call grammar needs at least one tool")
        var compiler = SchemaCompiler(document: .object([]))
        var calls: [Int32] = []
        for (index, tool) in tools.enumerated() {
            // Each tool's `$ref`s resolve inside its own parameters.
            compiler.document = tool.parameters
            compiler.refs = [:]
            let arguments: Int32
            do { arguments = try compiler.compile(tool.parameters, path: "#") } catch {
                throw ToolGrammarError(toolIndex: index, name: tool.name, error: error)
            }
            let (head, tail) = format.callText(name: tool.name)
            calls.append(compiler.add(.sequence([compiler.literal(head), arguments, compiler.literal(tail)])))
        }
        let oneCall = calls.count == 1 ? calls[0] : compiler.add(.union(calls))
        var root = oneCall
        if parallel {
            // more(k) = nothing | separator, a call, more(k - 1)
            let separator = compiler.literal(format.separator)
            var more = compiler.add(.sequence([]))
            let nothing = more
            for _ in 1..<maxParallelCalls {
                more = compiler.add(.union([nothing, compiler.add(.sequence([separator, oneCall, more]))]))
            }
            root = compiler.add(.sequence([oneCall, more]))
        }
        let key = "tool_calls:\(format.rawValue):\(parallel):" + tools.map { JSONValue.quoted($0.name) + "=" + $0.parameters.compactText }
            .joined(separator: ",")
        return JSONSchemaGrammar(nodes: compiler.nodes, root: root, key: key)
    }
}

/// A tool's parameter schema that constrained decoding cannot enforce.
public struct ToolGrammarError: Error, Sendable {
    public let toolIndex: Int
    public let name: String
    public let error: JSONSchemaError

    /// The schema keyword refused, if that is the problem.
    public var keyword: String? { error.keyword }
}

extension ToolCallFormat {
    /// The text before and after a call's arguments.
    func callText(name: String) -> (head: String, tail: String) {
        switch self {
        case .hermes: (Self.hermesOpen + "\n{\"name\": " + JSONValue.quoted(name) + ", \"arguments\": ", "}\n" + Self.hermesClose)
        case .llama3: ("{\"name\": " + JSONValue.quoted(name) + ", \"parameters\": ", "}")
        }
    }

    /// Between two calls of one answer.
    var separator: String {
        switch self {
        case .hermes: "\n"
        case .llama3: "; "
        }
    }
}
