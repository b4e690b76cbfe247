/// The `tojson` filter as `transformers` defines it: Python's `json.dumps(value,
/// ensure_ascii=False, indent=None, separators=None, sort_keys=False)`, so non-ASCII text stays
/// as is and the separators are `", "` and `": "` (`","` between items when indenting).
package enum JinjaJSON {
    static func dumps(_ value: JinjaValue, kwargs: JinjaDict, positionalIndent: JinjaValue?) throws -> String {
        var indent: String?
        switch kwargs["indent"] ?? positionalIndent {
        case .int(let n)?: indent = String(repeating: " ", count: max(0, n))
        case .string(let s)?: indent = s
        default: indent = nil
        }
        var itemSeparator = indent == nil ? ", " : ","
        var keySeparator = ": "
        if case .list(let seps)? = kwargs["separators"], seps.count == 2 {
            itemSeparator = seps[0].text
            keySeparator = seps[1].text
        }
        let ensureASCII = kwargs["ensure_ascii"]?.isTruthy ?? false
        let sortKeys = kwargs["sort_keys"]?.isTruthy ?? false
        var out = ""
        try write(value, into: &out, level: 0, indent: indent, itemSeparator: itemSeparator,
                  keySeparator: keySeparator, ensureASCII: ensureASCII, sortKeys: sortKeys)
        return out
    }

    private static func write(
        _ value: JinjaValue, into out: inout String, level: Int, indent: String?, itemSeparator: String,
        keySeparator: String, ensureASCII: Bool, sortKeys: Bool
    ) throws {
        func newline(_ depth: Int) {
            if let indent { out += "\n" + String(repeating: indent, count: depth) }
        }
        func nested(_ v: JinjaValue) throws {
            try write(v, into: &out, level: level + 1, indent: indent, itemSeparator: itemSeparator,
                      keySeparator: keySeparator, ensureASCII: ensureASCII, sortKeys: sortKeys)
        }
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += JinjaValue.pythonFloat(d) }
        case .string(let s): out += quote(s, ensureASCII: ensureASCII)
        case .list(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1)
                try nested(item)
            }
            newline(level)
            out += "]"
        case .dict(let d):
            var entries = d.entries
            guard !entries.isEmpty else { out += "{}"; return }
            if sortKeys { entries.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) } }
            out += "{"
            for (i, entry) in entries.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1)
                out += quote(entry.key, ensureASCII: ensureASCII) + keySeparator
                try nested(entry.value)
            }
            newline(level)
            out += "}"
        case .namespace(let ns):
            try write(.dict(ns.dict), into: &out, level: level, indent: indent, itemSeparator: itemSeparator,
                      keySeparator: keySeparator, ensureASCII: ensureASCII, sortKeys: sortKeys)
        case .undefined, .callable:
            throw JinjaFailure.message("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    /// `s` as a JSON string literal, escaping as Python's `json.dumps` does (also what the
    /// engine's constrained output spells for `const` and `enum` strings and keys).
    package static func quote(_ s: String, ensureASCII: Bool) -> String {
        var out = "\""
        func hex4(_ v: UInt32) -> String {
            let digits = String(v, radix: 16)
            return "\\u" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += hex4(scalar.value)
                } else if ensureASCII && scalar.value > 0x7E {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
                    } else {
                        out += hex4(scalar.value)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
