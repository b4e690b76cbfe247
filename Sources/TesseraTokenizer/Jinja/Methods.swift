/// Python `str` and `dict` methods that chat templates call (`content.strip()`,
/// `message.get('x')`, `text.split('</think>')`...). Strings are handled as sequences of
/// Unicode scalars, like Python's code points.
enum JinjaMethods {
    static func bind(_ value: JinjaValue, _ name: String) -> JinjaValue? {
        switch value {
        case .string(let s): return stringMethod(s, name)
        case .dict(let d): return dictMethod(d, name)
        default: return nil
        }
    }

    private static func method(_ name: String, _ body: @escaping ([JinjaValue], JinjaDict) throws -> JinjaValue) -> JinjaValue {
        JinjaBuiltins.function(name, body)
    }

    private static func dictMethod(_ d: JinjaDict, _ name: String) -> JinjaValue? {
        switch name {
        case "items": method(name) { _, _ in .list(d.entries.map { .list([.string($0.key), $0.value]) }) }
        case "keys": method(name) { _, _ in .list(d.entries.map { .string($0.key) }) }
        case "values": method(name) { _, _ in .list(d.entries.map(\.value)) }
        case "get":
            method(name) { args, _ in
                guard case .string(let key)? = args.first else { return args.count > 1 ? args[1] : .none }
                return d[key] ?? (args.count > 1 ? args[1] : .none)
            }
        default: nil
        }
    }

    private static func stringMethod(_ s: String, _ name: String) -> JinjaValue? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return method(name) { args, _ in
                .string(strip(s, args.first, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "startswith", "endswith":
            return method(name) { args, _ in
                guard let first = args.first else { throw JinjaFailure.message("\(name)() takes at least 1 argument") }
                let candidates: [JinjaValue] = if case .list(let l) = first { l } else { [first] }
                let scalars = Array(s.unicodeScalars)
                for candidate in candidates {
                    guard case .string(let affix) = candidate else {
                        throw JinjaFailure.message("\(name) first arg must be str or a tuple of str")
                    }
                    let a = Array(affix.unicodeScalars)
                    let hit = name == "startswith" ? scalars.starts(with: a) : scalars.reversed().starts(with: a.reversed())
                    if hit { return .bool(true) }
                }
                return .bool(false)
            }
        case "split", "rsplit":
            return method(name) { args, kwargs in
                let separator = kwargs["sep"] ?? args.first
                let maxSplit = (kwargs["maxsplit"] ?? (args.count > 1 ? args[1] : nil))?.integer ?? -1
                return .list(try split(s, separator, maxSplit: maxSplit, fromRight: name == "rsplit").map { .string($0) })
            }
        case "upper": return method(name) { _, _ in .string(s.uppercased()) }
        case "lower": return method(name) { _, _ in .string(s.lowercased()) }
        case "title": return method(name) { _, _ in .string(pythonTitle(s)) }
        case "capitalize": return method(name) { _, _ in .string(capitalize(s)) }
        case "replace":
            return method(name) { args, _ in
                guard args.count >= 2 else { throw JinjaFailure.message("replace() takes at least 2 arguments") }
                return .string(replace(s, args[0].text, args[1].text, count: args.count > 2 ? args[2].integer ?? -1 : -1))
            }
        case "join":
            return method(name) { args, _ in
                guard let first = args.first else { throw JinjaFailure.message("join() takes exactly one argument") }
                return .string(try JinjaBuiltins.iterate(first).map(\.text).joined(separator: s))
            }
        case "find":
            return method(name) { args, _ in
                guard case .string(let needle)? = args.first else { throw JinjaFailure.message("find() needs a string") }
                return .int(s.scalarRange(of: needle)?.lowerBound ?? -1)
            }
        case "count":
            return method(name) { args, _ in
                guard case .string(let needle)? = args.first, !needle.isEmpty else {
                    throw JinjaFailure.message("count() needs a non-empty string")
                }
                var n = 0, from = 0
                while let r = s.scalarRange(of: needle, from: from) { n += 1; from = r.upperBound }
                return .int(n)
            }
        case "isdigit", "isalpha", "isspace", "isupper", "islower":
            return method(name) { _, _ in
                let scalars = Array(s.unicodeScalars)
                guard !scalars.isEmpty else { return .bool(false) }
                switch name {
                case "isdigit": return .bool(scalars.allSatisfy { $0.properties.numericType != nil && $0.properties.numericType != .numeric })
                case "isalpha": return .bool(scalars.allSatisfy { $0.properties.isAlphabetic })
                case "isspace": return .bool(scalars.allSatisfy(\.isPythonSpace))
                case "isupper": return .bool(s == s.uppercased() && s != s.lowercased())
                default: return .bool(s == s.lowercased() && s != s.uppercased())
                }
            }
        default:
            return nil
        }
    }

    /// Python `str.strip([chars])` and its one-sided variants.
    static func strip(_ s: String, _ chars: JinjaValue?, leading: Bool, trailing: Bool) -> String {
        var scalars = Array(s.unicodeScalars)[...]
        let set: Set<UInt32>? = if case .string(let c)? = chars { Set(c.unicodeScalars.map(\.value)) } else { nil }
        func strippable(_ x: Unicode.Scalar) -> Bool { set.map { $0.contains(x.value) } ?? x.isPythonSpace }
        if leading { while let f = scalars.first, strippable(f) { scalars.removeFirst() } }
        if trailing { while let l = scalars.last, strippable(l) { scalars.removeLast() } }
        return String(scalars: scalars)
    }

    /// Python `str.split(sep=None, maxsplit=-1)` / `rsplit`.
    static func split(_ s: String, _ separator: JinjaValue?, maxSplit: Int, fromRight: Bool) throws -> [String] {
        var scalars = Array(s.unicodeScalars)
        var pieces: [[Unicode.Scalar]] = []
        var splits = 0
        if fromRight { scalars.reverse() }
        if case .string(let sepString)? = separator {
            var sep = Array(sepString.unicodeScalars)
            guard !sep.isEmpty else { throw JinjaFailure.message("empty separator") }
            if fromRight { sep.reverse() }
            var current: [Unicode.Scalar] = []
            var i = 0
            while i < scalars.count {
                if (maxSplit < 0 || splits < maxSplit) && i + sep.count <= scalars.count
                    && scalars[i..<(i + sep.count)].elementsEqual(sep)
                {
                    pieces.append(current)
                    current = []
                    splits += 1
                    i += sep.count
                } else {
                    current.append(scalars[i])
                    i += 1
                }
            }
            pieces.append(current)
        } else {
            // Runs of whitespace separate; leading and trailing whitespace is dropped.
            var i = 0
            while i < scalars.count {
                while i < scalars.count && scalars[i].isPythonSpace { i += 1 }
                guard i < scalars.count else { break }
                if maxSplit >= 0 && splits >= maxSplit {
                    var rest = Array(scalars[i...])
                    while let l = rest.last, l.isPythonSpace { rest.removeLast() }
                    pieces.append(rest)
                    break
                }
                var j = i
                while j < scalars.count && !scalars[j].isPythonSpace { j += 1 }
                pieces.append(Array(scalars[i..<j]))
                splits += 1
                i = j
            }
        }
        if fromRight { pieces = pieces.reversed().map { $0.reversed() } }
        return pieces.map { String(scalars: $0) }
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        var out = String.UnicodeScalarView()
        let hay = Array(s.unicodeScalars), pin = Array(old.unicodeScalars)
        var replaced = 0
        var i = 0
        if pin.isEmpty {
            // Python inserts `new` between every character and at both ends.
            for scalar in hay {
                if count < 0 || replaced < count { out.append(contentsOf: new.unicodeScalars); replaced += 1 }
                out.append(scalar)
            }
            if count < 0 || replaced < count { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        while i < hay.count {
            if (count < 0 || replaced < count) && i + pin.count <= hay.count && hay[i..<(i + pin.count)].elementsEqual(pin) {
                out.append(contentsOf: new.unicodeScalars)
                i += pin.count
                replaced += 1
            } else {
                out.append(hay[i])
                i += 1
            }
        }
        return String(out)
    }

    /// Python `str.capitalize()`: first character title-cased, the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return first.properties.titlecaseMapping + String(scalars: s.unicodeScalars.dropFirst()).lowercased()
    }

    /// Python `str.title()`: title-case after an uncased character, lower-case after a cased one.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for scalar in s.unicodeScalars {
            out += previousCased ? scalar.properties.lowercaseMapping : scalar.properties.titlecaseMapping
            previousCased = scalar.properties.isCased
        }
        return out
    }

    /// jinja2's `title` filter: capitalize each word, words starting after `-`, whitespace or an
    /// opening bracket.
    static func title(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for scalar in s.unicodeScalars {
            let separator = scalar.isPythonSpace || "-({[<".unicodeScalars.contains(scalar)
            if separator {
                out.unicodeScalars.append(scalar)
                atWordStart = true
            } else {
                out += atWordStart ? scalar.properties.uppercaseMapping : scalar.properties.lowercaseMapping
                atWordStart = false
            }
        }
        return out
    }
}
