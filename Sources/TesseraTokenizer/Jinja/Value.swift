import Foundation

/// A runtime value of the template language, with Python semantics where jinja2 has them
/// (truthiness, `str()`, equality, ordering).
enum JinjaValue {
    /// A missing variable or attribute; prints as "", is falsy, iterates as empty, but most
    /// operations on it fail (jinja2's default `Undefined`). Carries a hint for error messages.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaValue])
    case dict(JinjaDict)
    /// `namespace(...)`: the one mutable object, so `{% set ns.x = ... %}` inside a loop is
    /// visible after it.
    case namespace(JinjaNamespace)
    /// A global function or a bound method such as `'abc'.startswith`.
    case callable(JinjaCallable)

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    var isTruthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .list(let l): !l.isEmpty
        case .dict(let d): !d.isEmpty
        case .namespace, .callable: true
        }
    }

    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .list: "list"
        case .dict: "dict"
        case .namespace: "Namespace"
        case .callable: "function"
        }
    }

    /// Python's `str(value)`, which is what `{{ value }}` prints.
    var text: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: repr
        }
    }

    /// Python's `repr(value)`, used inside printed lists and dicts.
    var repr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): JinjaValue.pythonFloat(d)
        case .string(let s): JinjaValue.pythonStringRepr(s)
        case .list(let l): "[" + l.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let d): "{" + d.entries.map { JinjaValue.pythonStringRepr($0.key) + ": " + $0.value.repr }.joined(separator: ", ") + "}"
        case .namespace(let ns): "<Namespace " + JinjaValue.dict(ns.dict).repr + ">"
        case .callable(let c): "<function \(c.name)>"
        }
    }

    /// Python's float repr: shortest round-trip digits, always with a fraction or exponent.
    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
        var s = "\(d)"
        // Swift writes 1e+20 as "1e+20" like Python, but 5e-324 style exponents need two digits.
        if let e = s.firstIndex(of: "e") {
            var exponent = String(s[s.index(after: e)...])
            let sign = exponent.first == "-" ? "-" : "+"
            exponent = exponent.trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
            if exponent.count < 2 { exponent = "0" + exponent }
            s = String(s[..<e]) + "e" + sign + exponent
        }
        return s
    }

    static func pythonStringRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }
}

/// An insertion-ordered string-keyed dictionary (Python dicts keep insertion order, which
/// `items()` and `tojson` expose). Keys are compared scalar by scalar, never by canonical
/// equivalence. Chat-template dicts are tiny, so a linear search is the fastest lookup.
struct JinjaDict {
    /// A named struct rather than a tuple: the compiler's implicit-Sendable check loops on a
    /// tuple that contains the recursive `JinjaValue` (non-WMO optimized builds fail with
    /// "circular reference").
    struct Entry {
        var key: String
        var value: JinjaValue
    }

    var entries: [Entry] = []

    var isEmpty: Bool { entries.isEmpty }

    subscript(key: String) -> JinjaValue? {
        get { entries.first { $0.key.unicodeScalars.elementsEqual(key.unicodeScalars) }?.value }
        set {
            if let i = entries.firstIndex(where: { $0.key.unicodeScalars.elementsEqual(key.unicodeScalars) }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }
}

final class JinjaNamespace {
    var dict: JinjaDict
    init(_ dict: JinjaDict) { self.dict = dict }
}

struct JinjaCallable {
    var name: String
    var call: (_ args: [JinjaValue], _ kwargs: JinjaDict) throws -> JinjaValue
}

/// An error raised while evaluating, before its position in the template is attached.
enum JinjaFailure: Error {
    case message(String)
    /// `raise_exception(...)` from the template.
    case raised(String)
}

extension JinjaValue {
    /// Python `==` (1 == 1.0 == True; strings by code points; undefined equals only undefined).
    func equals(_ other: JinjaValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1) }
        case (.dict(let a), .dict(let b)):
            return a.entries.count == b.entries.count && a.entries.allSatisfy { e in b[e.key].map { $0.equals(e.value) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let x = numeric, let y = other.numeric { return x == y }
            return false
        }
    }

    /// Numbers (and bools, which are ints in Python) as Double for comparisons.
    var numeric: Double? {
        switch self {
        case .bool(let b): b ? 1 : 0
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// Python `<`: numbers, strings (by code point) and lists (lexicographically).
    func lessThan(_ other: JinjaValue) throws -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case (.list(let a), .list(let b)):
            for (x, y) in zip(a, b) where !x.equals(y) { return try x.lessThan(y) }
            return a.count < b.count
        default:
            if let x = numeric, let y = other.numeric { return x < y }
            throw JinjaFailure.message("'<' not supported between instances of '\(typeName)' and '\(other.typeName)'")
        }
    }
}
