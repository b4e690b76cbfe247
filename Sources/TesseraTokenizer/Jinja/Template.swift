/// A parsed Jinja template that can be rendered many times.
struct JinjaTemplate: Sendable {
    let nodes: [JinjaNode]
    /// The newline-normalized source, to turn offsets into line and column in errors.
    let source: [Unicode.Scalar]

    init(_ template: String) throws {
        (nodes, source) = try JinjaParser.parse(template)
    }

    func render(_ variables: [String: JinjaValue]) throws -> String {
        var renderer = JinjaRenderer(source: source, globals: variables)
        _ = try renderer.render(nodes)
        return renderer.output
    }
}

/// Tree-walking evaluation of a parsed template.
struct JinjaRenderer {
    let source: [Unicode.Scalar]
    private(set) var output = ""
    /// Innermost scope last. A loop body gets a fresh scope per iteration, so `set` inside a loop
    /// does not leak out (only `namespace` attributes do), as in jinja2.
    private var scopes: [[String: JinjaValue]]

    init(source: [Unicode.Scalar], globals: [String: JinjaValue]) {
        self.source = source
        self.scopes = [JinjaBuiltins.globals.merging(globals) { $1 }]
    }

    enum Flow { case normal, breakLoop, continueLoop }

    mutating func render(_ nodes: [JinjaNode]) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .output(let expr):
                output += try evaluate(expr).text
            case .conditional(let branches, let otherwise):
                var chosen = otherwise
                for (condition, body) in branches {
                    if try evaluate(condition).isTruthy {
                        chosen = body
                        break
                    }
                }
                let flow = try render(chosen)
                if flow != .normal { return flow }
            case .loop(let loop):
                try renderLoop(loop)
            case .assign(let names, let expr):
                let value = try evaluate(expr)
                try assign(names, value, offset: expr.offset)
            case .assignAttribute(let namespace, let attribute, let expr, let offset):
                let value = try evaluate(expr)
                guard case .namespace(let ns) = lookup(namespace) else {
                    throw runtimeError("cannot assign attribute on non-namespace object '\(namespace)'", offset)
                }
                ns.dict[attribute] = value
            case .assignBlock(let name, let body):
                let saved = output
                output = ""
                _ = try render(body)
                let captured = output
                output = saved
                scopes[scopes.count - 1][name] = .string(captured)
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private mutating func assign(_ names: [String], _ value: JinjaValue, offset: Int) throws {
        if names.count == 1 {
            scopes[scopes.count - 1][names[0]] = value
            return
        }
        let items = try JinjaBuiltins.iterate(value)
        guard items.count == names.count else {
            throw runtimeError("cannot unpack \(items.count) values into \(names.count) names", offset)
        }
        for (name, item) in zip(names, items) { scopes[scopes.count - 1][name] = item }
    }

    private mutating func renderLoop(_ loop: JinjaLoop) throws {
        let iterable = try evaluate(loop.iterable)
        var items: [JinjaValue]
        do {
            items = try JinjaBuiltins.iterate(iterable)
        } catch let failure as JinjaFailure {
            throw convert(failure, loop.iterable.offset)
        }
        if let condition = loop.condition {
            // `for x in xs if cond`: filtered before the loop, so `loop.length` counts survivors.
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append([:])
                defer { scopes.removeLast() }
                try bindTargets(loop, item)
                if try evaluate(condition).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try render(loop.otherwise)
            return
        }
        for (i, item) in items.enumerated() {
            var info = JinjaDict()
            info["index"] = .int(i + 1)
            info["index0"] = .int(i)
            info["revindex"] = .int(items.count - i)
            info["revindex0"] = .int(items.count - i - 1)
            info["first"] = .bool(i == 0)
            info["last"] = .bool(i == items.count - 1)
            info["length"] = .int(items.count)
            info["depth"] = .int(1)
            info["depth0"] = .int(0)
            info["previtem"] = i > 0 ? items[i - 1] : .undefined("there is no previous item")
            info["nextitem"] = i + 1 < items.count ? items[i + 1] : .undefined("there is no next item")
            info["cycle"] = .callable(JinjaCallable(name: "loop.cycle") { args, _ in
                guard !args.isEmpty else { throw JinjaFailure.message("no items for cycling given") }
                return args[i % args.count]
            })
            scopes.append(["loop": .dict(info)])
            defer { scopes.removeLast() }
            try bindTargets(loop, item)
            if try render(loop.body) == .breakLoop { break }
        }
    }

    private mutating func bindTargets(_ loop: JinjaLoop, _ item: JinjaValue) throws {
        do {
            try assign(loop.targets, item, offset: loop.offset)
        } catch let failure as JinjaFailure {
            throw convert(failure, loop.offset)
        }
    }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return .undefined("'\(name)' is undefined")
    }

    // MARK: expressions

    func evaluate(_ expr: JinjaExpr) throws -> JinjaValue {
        do {
            return try evaluateKind(expr)
        } catch let failure as JinjaFailure {
            throw convert(failure, expr.offset)
        }
    }

    private func evaluateKind(_ expr: JinjaExpr) throws -> JinjaValue {
        switch expr.kind {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .bool(b)
        case .none: return .none
        case .name(let name): return lookup(name)
        case .attribute(let base, let name):
            return try JinjaBuiltins.attribute(try evaluate(base), name)
        case .item(let base, let index):
            return try JinjaBuiltins.item(try evaluate(base), try evaluate(index))
        case .slice(let base, let start, let stop, let step):
            return try JinjaBuiltins.slice(
                try evaluate(base), start: try start.map(evaluate), stop: try stop.map(evaluate), step: try step.map(evaluate))
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            guard case .callable(let callable) = function else {
                if case .undefined(let hint) = function { throw JinjaFailure.message(hint) }
                throw JinjaFailure.message("'\(function.typeName)' object is not callable")
            }
            let (args, kwargs) = try evaluate(arguments)
            return try callable.call(args, kwargs)
        case .filter(let base, let name, let arguments):
            let (args, kwargs) = try evaluate(arguments)
            return try JinjaBuiltins.filter(name, try evaluate(base), args, kwargs)
        case .test(let base, let name, let arguments, let negated):
            let (args, _) = try evaluate(arguments)
            let result = try JinjaBuiltins.test(name, try evaluate(base), args)
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .negate(let operand):
            switch try evaluate(operand) {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            case .bool(let b): return .int(b ? -1 : 0)
            case .undefined(let hint): throw JinjaFailure.message(hint)
            case let other: throw JinjaFailure.message("bad operand type for unary -: '\(other.typeName)'")
            }
        case .binary(let op, let left, let right):
            return try JinjaBuiltins.binary(op, try evaluate(left), try evaluate(right))
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for (op, rightExpr) in operations {
                let right = try evaluate(rightExpr)
                if !(try JinjaBuiltins.compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let left, let right):
            let l = try evaluate(left)
            return l.isTruthy ? try evaluate(right) : l
        case .or(let left, let right):
            let l = try evaluate(left)
            return l.isTruthy ? l : try evaluate(right)
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined("the inline if-expression evaluated to false and no else section was defined")
        case .list(let items):
            return .list(try items.map(evaluate))
        case .dict(let pairs):
            var dict = JinjaDict()
            for (keyExpr, valueExpr) in pairs {
                guard case .string(let key) = try evaluate(keyExpr) else {
                    throw JinjaFailure.message("only string keys are supported in dict literals")
                }
                dict[key] = try evaluate(valueExpr)
            }
            return .dict(dict)
        }
    }

    private func evaluate(_ arguments: JinjaExpr.Arguments) throws -> ([JinjaValue], JinjaDict) {
        var kwargs = JinjaDict()
        for (name, expr) in arguments.keywords { kwargs[name] = try evaluate(expr) }
        return (try arguments.positional.map(evaluate), kwargs)
    }

    // MARK: errors

    private func convert(_ failure: JinjaFailure, _ offset: Int) -> TokenizerError {
        switch failure {
        case .raised(let message): return .templateException(message)
        case .message(let message): return runtimeError(message, offset)
        }
    }

    private func runtimeError(_ message: String, _ offset: Int) -> TokenizerError {
        let (line, column) = JinjaLexer.lineAndColumn(of: offset, in: source)
        return .templateRuntime(line: line, column: column, message: message)
    }
}
