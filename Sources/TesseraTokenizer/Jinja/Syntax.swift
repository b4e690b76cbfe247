/// The parsed form of a template. Plain values only, so a parsed template is `Sendable` and can
/// live inside the tokenizer.
struct JinjaExpr: Sendable {
    indirect enum Kind: Sendable {
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
        case none
        case name(String)
        /// `a.b`
        case attribute(JinjaExpr, String)
        /// `a[b]`
        case item(JinjaExpr, JinjaExpr)
        /// `a[start:stop:step]`
        case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
        case call(JinjaExpr, Arguments)
        /// `value | name(args)`
        case filter(JinjaExpr, String, Arguments)
        /// `value is [not] name(args)`
        case test(JinjaExpr, String, Arguments, negated: Bool)
        case not(JinjaExpr)
        case negate(JinjaExpr)
        /// `+ - * / // % ** ~`
        case binary(String, JinjaExpr, JinjaExpr)
        /// A comparison chain `a < b <= c` (operators `== != < <= > >= in notin`).
        case compare(JinjaExpr, [(String, JinjaExpr)])
        case and(JinjaExpr, JinjaExpr)
        case or(JinjaExpr, JinjaExpr)
        /// `then if condition [else otherwise]`
        case conditional(then: JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
        case list([JinjaExpr])
        case dict([(JinjaExpr, JinjaExpr)])
    }

    struct Arguments: Sendable {
        var positional: [JinjaExpr] = []
        var keywords: [(String, JinjaExpr)] = []
    }

    var kind: Kind
    /// Scalar offset in the template source, for error messages.
    var offset: Int
}

indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpr)
    /// `if` / `elif` branches in order, then the `else` body.
    case conditional([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
    case loop(JinjaLoop)
    /// `{% set a = ... %}`, `{% set a, b = ... %}`
    case assign([String], JinjaExpr)
    /// `{% set ns.attr = ... %}`
    case assignAttribute(namespace: String, attribute: String, JinjaExpr, offset: Int)
    /// `{% set name %}...{% endset %}`
    case assignBlock(String, [JinjaNode])
    case breakLoop
    case continueLoop
}

struct JinjaLoop: Sendable {
    var targets: [String]
    var iterable: JinjaExpr
    var condition: JinjaExpr?
    var body: [JinjaNode]
    var otherwise: [JinjaNode]
    var offset: Int
}
