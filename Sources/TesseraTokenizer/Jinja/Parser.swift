/// Recursive-descent parser following jinja2's grammar and operator precedence
/// (`parser.py`): conditional < or < and < not < comparisons < `+ -` < `~` < `* / // %` < `**`
/// < unary minus < postfix (`.`, `[]`, call) < filters and tests.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private let source: [Unicode.Scalar]
    private var index = 0

    static func parse(_ template: String) throws -> (nodes: [JinjaNode], source: [Unicode.Scalar]) {
        let (tokens, source) = try JinjaLexer.tokenize(template)
        var parser = JinjaParser(tokens: tokens, source: source)
        let (nodes, endTag) = try parser.parseBody(until: [])
        if let endTag { throw parser.error("unexpected '\(endTag)'") }
        return (nodes, source)
    }

    private init(tokens: [JinjaToken], source: [Unicode.Scalar]) {
        self.tokens = tokens
        self.source = source
    }

    // MARK: statements

    /// Parses nodes until a block tag whose name is in `endTags` (returned, with the tag name
    /// consumed) or the end of the template (nil).
    private mutating func parseBody(until endTags: Set<String>) throws -> ([JinjaNode], String?) {
        var nodes: [JinjaNode] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                if !endTags.isEmpty {
                    throw error("unexpected end of template, expected \(endTags.sorted().map { "'\($0)'" }.joined(separator: " or "))")
                }
                return (nodes, nil)
            case .data(let text):
                advance()
                nodes.append(.text(text))
            case .variableBegin:
                advance()
                let expr = try parseTuple()
                try expect(.variableEnd, "'}}'")
                nodes.append(.output(expr))
            case .blockBegin:
                advance()
                guard case .name(let tag) = current.kind else { throw error("expected a tag name") }
                if endTags.contains(tag) {
                    advance()
                    return (nodes, tag)
                }
                nodes.append(try parseStatement(tag))
            default:
                throw error("unexpected \(describe(token))")
            }
        }
    }

    private mutating func parseStatement(_ tag: String) throws -> JinjaNode {
        let tagToken = current
        advance()
        switch tag {
        case "if":
            return try parseIf()
        case "for":
            return try parseFor(offset: tagToken.offset)
        case "set":
            return try parseSet()
        case "break", "continue":
            try expect(.blockEnd, "'%}'")
            return tag == "break" ? .breakLoop : .continueLoop
        case "generation":
            // transformers' marker for assistant-token masks: renders its body unchanged.
            try expect(.blockEnd, "'%}'")
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expect(.blockEnd, "'%}'")
            return .conditional([(JinjaExpr(kind: .bool(true), offset: tagToken.offset), body)], otherwise: [])
        default:
            index -= 1
            let isEndOrBranch = tag.hasPrefix("end") || tag == "elif" || tag == "else"
            throw error(isEndOrBranch ? "unexpected '\(tag)'" : "unsupported tag '\(tag)'")
        }
    }

    private mutating func parseIf() throws -> JinjaNode {
        var branches: [(JinjaExpr, [JinjaNode])] = []
        var condition = try parseExpression(conditional: false)
        while true {
            try expect(.blockEnd, "'%}'")
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end {
            case "elif":
                condition = try parseExpression(conditional: false)
            case "else":
                try expect(.blockEnd, "'%}'")
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expect(.blockEnd, "'%}'")
                return .conditional(branches, otherwise: otherwise)
            default:
                try expect(.blockEnd, "'%}'")
                return .conditional(branches, otherwise: [])
            }
        }
    }

    private mutating func parseFor(offset: Int) throws -> JinjaNode {
        var targets: [String] = []
        let parenthesized = skip(op: "(")
        repeat {
            guard case .name(let name) = current.kind else { throw error("expected a loop variable name") }
            targets.append(name)
            advance()
        } while skip(op: ",")
        if parenthesized { try expect(op: ")") }
        guard skip(name: "in") else { throw error("expected 'in'") }
        let iterable = try parseExpression(conditional: false)
        var condition: JinjaExpr?
        if skip(name: "if") { condition = try parseExpression(conditional: true) }
        if skip(name: "recursive") { throw error("recursive loops are not supported") }
        try expect(.blockEnd, "'%}'")
        let (body, end) = try parseBody(until: ["else", "endfor"])
        var otherwise: [JinjaNode] = []
        try expect(.blockEnd, "'%}'")
        if end == "else" {
            (otherwise, _) = try parseBody(until: ["endfor"])
            try expect(.blockEnd, "'%}'")
        }
        return .loop(JinjaLoop(targets: targets, iterable: iterable, condition: condition, body: body,
                               otherwise: otherwise, offset: offset))
    }

    private mutating func parseSet() throws -> JinjaNode {
        let targetOffset = current.offset
        guard case .name(let first) = current.kind else { throw error("expected a variable name after 'set'") }
        advance()
        if skip(op: ".") {
            guard case .name(let attribute) = current.kind else { throw error("expected an attribute name") }
            advance()
            try expect(op: "=")
            let value = try parseTuple()
            try expect(.blockEnd, "'%}'")
            return .assignAttribute(namespace: first, attribute: attribute, value, offset: targetOffset)
        }
        var names = [first]
        while skip(op: ",") {
            guard case .name(let name) = current.kind else { throw error("expected a variable name") }
            names.append(name)
            advance()
        }
        if skip(op: "=") {
            let value = try parseTuple()
            try expect(.blockEnd, "'%}'")
            return .assign(names, value)
        }
        guard names.count == 1 else { throw error("expected '='") }
        try expect(.blockEnd, "'%}'")
        let (body, _) = try parseBody(until: ["endset"])
        try expect(.blockEnd, "'%}'")
        return .assignBlock(first, body)
    }

    // MARK: expressions

    /// An expression, or several separated by commas (a tuple, e.g. `{% set a = 1, 2 %}`).
    private mutating func parseTuple() throws -> JinjaExpr {
        let start = current.offset
        let first = try parseExpression(conditional: true)
        guard isOp(",") else { return first }
        var items = [first]
        while skip(op: ",") {
            if case .blockEnd = current.kind { break }
            if case .variableEnd = current.kind { break }
            items.append(try parseExpression(conditional: true))
        }
        return JinjaExpr(kind: .list(items), offset: start)
    }

    private mutating func parseExpression(conditional: Bool) throws -> JinjaExpr {
        conditional ? try parseConditional() : try parseOr()
    }

    private mutating func parseConditional() throws -> JinjaExpr {
        var expr = try parseOr()
        while skip(name: "if") {
            let condition = try parseOr()
            let otherwise = skip(name: "else") ? try parseConditional() : nil
            expr = JinjaExpr(kind: .conditional(then: expr, condition: condition, otherwise: otherwise), offset: expr.offset)
        }
        return expr
    }

    private mutating func parseOr() throws -> JinjaExpr {
        var left = try parseAnd()
        while skip(name: "or") {
            left = JinjaExpr(kind: .or(left, try parseAnd()), offset: left.offset)
        }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpr {
        var left = try parseNot()
        while skip(name: "and") {
            left = JinjaExpr(kind: .and(left, try parseNot()), offset: left.offset)
        }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpr {
        let start = current.offset
        if skip(name: "not") { return JinjaExpr(kind: .not(try parseNot()), offset: start) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpr {
        let left = try parseAdditive()
        var operations: [(String, JinjaExpr)] = []
        while true {
            if case .op(let op) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
                advance()
                operations.append((op, try parseAdditive()))
            } else if skip(name: "in") {
                operations.append(("in", try parseAdditive()))
            } else if isName("not"), case .name("in") = peek.kind {
                advance(); advance()
                operations.append(("notin", try parseAdditive()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : JinjaExpr(kind: .compare(left, operations), offset: left.offset)
    }

    private mutating func parseAdditive() throws -> JinjaExpr {
        var left = try parseConcat()
        while case .op(let op) = current.kind, op == "+" || op == "-" {
            advance()
            left = JinjaExpr(kind: .binary(op, left, try parseConcat()), offset: left.offset)
        }
        return left
    }

    private mutating func parseConcat() throws -> JinjaExpr {
        var left = try parseMultiplicative()
        while skip(op: "~") {
            left = JinjaExpr(kind: .binary("~", left, try parseMultiplicative()), offset: left.offset)
        }
        return left
    }

    private mutating func parseMultiplicative() throws -> JinjaExpr {
        var left = try parsePower()
        while case .op(let op) = current.kind, ["*", "/", "//", "%"].contains(op) {
            advance()
            left = JinjaExpr(kind: .binary(op, left, try parsePower()), offset: left.offset)
        }
        return left
    }

    private mutating func parsePower() throws -> JinjaExpr {
        var left = try parseUnary(withFilters: true)
        while skip(op: "**") {
            left = JinjaExpr(kind: .binary("**", left, try parseUnary(withFilters: true)), offset: left.offset)
        }
        return left
    }

    private mutating func parseUnary(withFilters: Bool) throws -> JinjaExpr {
        let start = current.offset
        var node: JinjaExpr
        if skip(op: "-") {
            node = JinjaExpr(kind: .negate(try parseUnary(withFilters: false)), offset: start)
        } else if skip(op: "+") {
            node = try parseUnary(withFilters: false)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilters { node = try parseFiltersAndTests(node) }
        return node
    }

    private mutating func parsePrimary() throws -> JinjaExpr {
        let token = current
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return JinjaExpr(kind: .bool(true), offset: token.offset)
            case "false", "False": return JinjaExpr(kind: .bool(false), offset: token.offset)
            case "none", "None": return JinjaExpr(kind: .none, offset: token.offset)
            default: return JinjaExpr(kind: .name(name), offset: token.offset)
            }
        case .string(var text):
            advance()
            // Adjacent literals are concatenated, as in Python.
            while case .string(let more) = current.kind {
                text += more
                advance()
            }
            return JinjaExpr(kind: .string(text), offset: token.offset)
        case .integer(let value):
            advance()
            return JinjaExpr(kind: .int(value), offset: token.offset)
        case .float(let value):
            advance()
            return JinjaExpr(kind: .double(value), offset: token.offset)
        case .op("("):
            advance()
            if skip(op: ")") { return JinjaExpr(kind: .list([]), offset: token.offset) }
            let first = try parseExpression(conditional: true)
            if skip(op: ")") { return first }
            var items = [first]
            while skip(op: ",") {
                if isOp(")") { break }
                items.append(try parseExpression(conditional: true))
            }
            try expect(op: ")")
            return JinjaExpr(kind: .list(items), offset: token.offset)
        case .op("["):
            advance()
            var items: [JinjaExpr] = []
            while !isOp("]") {
                items.append(try parseExpression(conditional: true))
                if !skip(op: ",") { break }
            }
            try expect(op: "]")
            return JinjaExpr(kind: .list(items), offset: token.offset)
        case .op("{"):
            advance()
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                let key = try parseExpression(conditional: true)
                try expect(op: ":")
                pairs.append((key, try parseExpression(conditional: true)))
                if !skip(op: ",") { break }
            }
            try expect(op: "}")
            return JinjaExpr(kind: .dict(pairs), offset: token.offset)
        default:
            throw error("unexpected \(describe(token))")
        }
    }

    private mutating func parsePostfix(_ base: JinjaExpr) throws -> JinjaExpr {
        var node = base
        while true {
            let start = current.offset
            if skip(op: ".") {
                switch current.kind {
                case .name(let name):
                    advance()
                    node = JinjaExpr(kind: .attribute(node, name), offset: start)
                case .integer(let i):
                    advance()
                    node = JinjaExpr(kind: .item(node, JinjaExpr(kind: .int(i), offset: start)), offset: start)
                default:
                    throw error("expected an attribute name after '.'")
                }
            } else if skip(op: "[") {
                node = try parseSubscript(node, offset: start)
                try expect(op: "]")
            } else if isOp("(") {
                node = JinjaExpr(kind: .call(node, try parseArguments()), offset: start)
            } else {
                return node
            }
        }
    }

    /// `[index]` or `[start:stop:step]` with any part omitted.
    private mutating func parseSubscript(_ base: JinjaExpr, offset: Int) throws -> JinjaExpr {
        var start: JinjaExpr?
        if !isOp(":") {
            let index = try parseExpression(conditional: true)
            if !isOp(":") { return JinjaExpr(kind: .item(base, index), offset: offset) }
            start = index
        }
        advance()  // ':'
        var stop: JinjaExpr?
        if !isOp(":") && !isOp("]") { stop = try parseExpression(conditional: true) }
        var step: JinjaExpr?
        if skip(op: ":") && !isOp("]") { step = try parseExpression(conditional: true) }
        return JinjaExpr(kind: .slice(base, start, stop, step), offset: offset)
    }

    private mutating func parseFiltersAndTests(_ base: JinjaExpr) throws -> JinjaExpr {
        var node = base
        while true {
            let start = current.offset
            if skip(op: "|") {
                let name = try parseDottedName()
                let arguments = isOp("(") ? try parseArguments() : JinjaExpr.Arguments()
                node = JinjaExpr(kind: .filter(node, name, arguments), offset: start)
            } else if skip(name: "is") {
                let negated = skip(name: "not")
                let name = try parseDottedName()
                var arguments = JinjaExpr.Arguments()
                if isOp("(") {
                    arguments = try parseArguments()
                } else if startsPrimary, !isName("else"), !isName("or"), !isName("and") {
                    if isName("is") { throw error("tests cannot be chained with 'is'") }
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                node = JinjaExpr(kind: .test(node, name, arguments, negated: negated), offset: start)
            } else if isOp("(") {
                node = JinjaExpr(kind: .call(node, try parseArguments()), offset: start)
            } else {
                return node
            }
        }
    }

    private var startsPrimary: Bool {
        switch current.kind {
        case .name, .string, .integer, .float: true
        case .op(let op): op == "(" || op == "[" || op == "{"
        default: false
        }
    }

    private mutating func parseDottedName() throws -> String {
        guard case .name(var name) = current.kind else { throw error("expected a filter or test name") }
        advance()
        while skip(op: ".") {
            guard case .name(let part) = current.kind else { throw error("expected a name after '.'") }
            name += "." + part
            advance()
        }
        return name
    }

    /// `(positional..., name=value...)`
    private mutating func parseArguments() throws -> JinjaExpr.Arguments {
        try expect(op: "(")
        var arguments = JinjaExpr.Arguments()
        while !isOp(")") {
            if case .name(let name) = current.kind, case .op("=") = peek.kind {
                advance(); advance()
                arguments.keywords.append((name, try parseExpression(conditional: true)))
            } else {
                if !arguments.keywords.isEmpty { throw error("positional argument after keyword argument") }
                if isOp("*") || isOp("**") { throw error("*args and **kwargs are not supported") }
                arguments.positional.append(try parseExpression(conditional: true))
            }
            if !skip(op: ",") { break }
        }
        try expect(op: ")")
        return arguments
    }

    // MARK: token helpers

    private var current: JinjaToken { tokens[index] }
    private var peek: JinjaToken { tokens[min(index + 1, tokens.count - 1)] }

    private mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    private func isOp(_ op: String) -> Bool {
        if case .op(let o) = current.kind { return o == op }
        return false
    }

    private func isName(_ name: String) -> Bool {
        if case .name(let n) = current.kind { return n == name }
        return false
    }

    private mutating func skip(op: String) -> Bool {
        guard isOp(op) else { return false }
        advance()
        return true
    }

    private mutating func skip(name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    private mutating func expect(op: String) throws {
        guard skip(op: op) else { throw error("expected '\(op)', found \(describe(current))") }
    }

    private mutating func expect(_ kind: JinjaToken.Kind, _ what: String) throws {
        guard current.kind == kind else { throw error("expected \(what), found \(describe(current))") }
        advance()
    }

    private func describe(_ token: JinjaToken) -> String {
        switch token.kind {
        case .data: "text"
        case .blockBegin: "'{%'"
        case .blockEnd: "'%}'"
        case .variableBegin: "'{{'"
        case .variableEnd: "'}}'"
        case .name(let n): "'\(n)'"
        case .string(let s): "string \(JinjaValue.pythonStringRepr(s))"
        case .integer(let i): "\(i)"
        case .float(let d): "\(d)"
        case .op(let o): "'\(o)'"
        case .end: "end of template"
        }
    }

    private func error(_ message: String) -> TokenizerError {
        let (line, column) = JinjaLexer.lineAndColumn(of: current.offset, in: source)
        return .templateSyntax(line: line, column: column, message: message)
    }
}
