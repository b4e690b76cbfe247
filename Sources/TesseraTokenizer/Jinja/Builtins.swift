import Foundation

/// Operators, attribute access, global functions, filters and tests, with jinja2 / Python
/// semantics for the parts chat templates use.
enum JinjaBuiltins {
    /// Functions every template can call (the globals `transformers` registers, plus jinja2's).
    static var globals: [String: JinjaValue] {
        [
            "raise_exception": function("raise_exception") { args, _ in
                throw JinjaFailure.raised(args.first?.text ?? "")
            },
            "namespace": function("namespace") { args, kwargs in
                var dict = JinjaDict()
                if case .dict(let initial)? = args.first { dict = initial }
                for entry in kwargs.entries { dict[entry.key] = entry.value }
                return .namespace(JinjaNamespace(dict))
            },
            "dict": function("dict") { _, kwargs in .dict(kwargs) },
            "range": function("range") { args, _ in
                let ints = try args.map { value -> Int in
                    guard case .int(let i) = value else { throw JinjaFailure.message("range() needs integers") }
                    return i
                }
                let (start, stop, step): (Int, Int, Int) = switch ints.count {
                case 1: (0, ints[0], 1)
                case 2: (ints[0], ints[1], 1)
                case 3: (ints[0], ints[1], ints[2])
                default: throw JinjaFailure.message("range() takes 1 to 3 arguments")
                }
                guard step != 0 else { throw JinjaFailure.message("range() step must not be zero") }
                return .list(Swift.stride(from: start, to: stop, by: step).map { .int($0) })
            },
            "strftime_now": function("strftime_now") { args, _ in
                .string(strftime(args.first?.text ?? "", Date()))
            },
        ]
    }

    static func function(_ name: String, _ body: @escaping ([JinjaValue], JinjaDict) throws -> JinjaValue) -> JinjaValue {
        .callable(JinjaCallable(name: name, call: body))
    }

    // MARK: access

    /// What `for x in value` iterates over: list items, dict keys, string characters.
    static func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .list(let items): return items
        case .dict(let d): return d.entries.map { .string($0.key) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw JinjaFailure.message("'\(value.typeName)' object is not iterable")
        }
    }

    /// `value.name`: a method if the type has one by that name, else the item (jinja2 tries
    /// `getattr` first, then `[]`); missing attributes are undefined.
    static func attribute(_ value: JinjaValue, _ name: String) throws -> JinjaValue {
        switch value {
        case .undefined(let hint):
            throw JinjaFailure.message(hint)
        case .dict(let d):
            if let method = JinjaMethods.bind(value, name) { return method }
            return d[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let ns):
            return ns.dict[name] ?? .undefined("'Namespace object' has no attribute '\(name)'")
        default:
            if let method = JinjaMethods.bind(value, name) { return method }
            return .undefined("'\(value.typeName) object' has no attribute '\(name)'")
        }
    }

    /// `value[index]`: items first, then attributes (jinja2's `getitem` order).
    static func item(_ value: JinjaValue, _ index: JinjaValue) throws -> JinjaValue {
        switch (value, index) {
        case (.undefined(let hint), _):
            throw JinjaFailure.message(hint)
        case (.dict(let d), .string(let key)):
            return d[key] ?? JinjaMethods.bind(value, key) ?? .undefined("'dict object' has no attribute '\(key)'")
        case (.namespace(let ns), .string(let key)):
            return ns.dict[key] ?? .undefined("'Namespace object' has no attribute '\(key)'")
        case (.list(let items), _):
            guard let i = index.integer else { throw JinjaFailure.message("list indices must be integers, not \(index.typeName)") }
            let k = i < 0 ? i + items.count : i
            return items.indices.contains(k) ? items[k] : .undefined("list index \(i) out of range")
        case (.string(let s), _):
            guard let i = index.integer else { throw JinjaFailure.message("string indices must be integers, not \(index.typeName)") }
            let scalars = Array(s.unicodeScalars)
            let k = i < 0 ? i + scalars.count : i
            return scalars.indices.contains(k) ? .string(String(scalars[k])) : .undefined("string index \(i) out of range")
        case (_, .string(let key)):
            return try attribute(value, key)
        default:
            return .undefined("'\(value.typeName) object' has no item \(index.repr)")
        }
    }

    /// Python slicing of lists and strings.
    static func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !(v.isNone) else { return nil }
            guard let i = v.integer else { throw JinjaFailure.message("slice indices must be integers or none") }
            return i
        }
        let (a, b, c) = (try bound(start), try bound(stop), try bound(step) ?? 1)
        guard c != 0 else { throw JinjaFailure.message("slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            let (lower, upper) = c > 0 ? (0, n) : (-1, n - 1)
            func clamp(_ x: Int?, _ missing: Int) -> Int {
                guard let x else { return missing }
                return x < 0 ? max(x + n, lower) : min(x, upper)
            }
            var i = clamp(a, c > 0 ? lower : upper)
            let end = clamp(b, c > 0 ? upper : lower)
            var out: [Int] = []
            while c > 0 ? i < end : i > end {
                out.append(i)
                i += c
            }
            return out
        }
        switch value {
        case .list(let items): return .list(indices(items.count).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            return .string(String(scalars: indices(scalars.count).map { scalars[$0] }))
        case .undefined(let hint): throw JinjaFailure.message(hint)
        default: throw JinjaFailure.message("'\(value.typeName)' object is not subscriptable")
        }
    }

    // MARK: operators

    static func binary(_ op: String, _ l: JinjaValue, _ r: JinjaValue) throws -> JinjaValue {
        if op == "~" { return .string(l.text + r.text) }
        if case .undefined(let hint) = l { throw JinjaFailure.message(hint) }
        if case .undefined(let hint) = r { throw JinjaFailure.message(hint) }
        switch (op, l, r) {
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .list(let a), .list(let b)): return .list(a + b)
        case ("*", .string(let s), _) where r.integer != nil: return .string(String(repeating: s, count: max(0, r.integer!)))
        case ("*", _, .string(let s)) where l.integer != nil: return .string(String(repeating: s, count: max(0, l.integer!)))
        case ("*", .list(let a), _) where r.integer != nil: return .list(Array(repeating: a, count: max(0, r.integer!)).flatMap { $0 })
        default: break
        }
        guard let x = l.numeric, let y = r.numeric else {
            throw JinjaFailure.message("unsupported operand type(s) for \(op): '\(l.typeName)' and '\(r.typeName)'")
        }
        if let a = l.integer, let b = r.integer {
            switch op {
            case "+": if case (let v, false) = a.addingReportingOverflow(b) { return .int(v) }
            case "-": if case (let v, false) = a.subtractingReportingOverflow(b) { return .int(v) }
            case "*": if case (let v, false) = a.multipliedReportingOverflow(by: b) { return .int(v) }
            case "//", "%":
                guard b != 0 else { throw JinjaFailure.message("integer division or modulo by zero") }
                var q = a / b
                if (a % b != 0) && ((a < 0) != (b < 0)) { q -= 1 }
                return .int(op == "//" ? q : a - q * b)
            case "**" where b >= 0:
                var result = 1
                for _ in 0..<b {
                    let (v, overflow) = result.multipliedReportingOverflow(by: a)
                    if overflow { return .double(Foundation.pow(x, y)) }
                    result = v
                }
                return .int(result)
            default: break
            }
        }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw JinjaFailure.message("division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw JinjaFailure.message("float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw JinjaFailure.message("float modulo") }
            let m = x.truncatingRemainder(dividingBy: y)
            return .double(m != 0 && (m < 0) != (y < 0) ? m + y : m)
        case "**": return .double(Foundation.pow(x, y))
        default: throw JinjaFailure.message("unknown operator '\(op)'")
        }
    }

    static func compare(_ op: String, _ l: JinjaValue, _ r: JinjaValue) throws -> Bool {
        switch op {
        case "==": return l.equals(r)
        case "!=": return !l.equals(r)
        case "in": return try contains(r, l)
        case "notin": return !(try contains(r, l))
        default: break
        }
        if case .undefined(let hint) = l { throw JinjaFailure.message(hint) }
        if case .undefined(let hint) = r { throw JinjaFailure.message(hint) }
        switch op {
        case "<": return try l.lessThan(r)
        case ">": return try r.lessThan(l)
        case "<=": return try !r.lessThan(l)
        case ">=": return try !l.lessThan(r)
        default: throw JinjaFailure.message("unknown comparison '\(op)'")
        }
    }

    /// Python `item in container`; substrings are matched scalar for scalar.
    static func contains(_ container: JinjaValue, _ item: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let needle) = item else {
                throw JinjaFailure.message("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return s.scalarRange(of: needle) != nil
        case .list(let items): return items.contains { $0.equals(item) }
        case .dict(let d):
            guard case .string(let key) = item else { return false }
            return d[key] != nil
        case .namespace(let ns):
            guard case .string(let key) = item else { return false }
            return ns.dict[key] != nil
        case .undefined: return false
        default: throw JinjaFailure.message("argument of type '\(container.typeName)' is not iterable")
        }
    }

    // MARK: tests

    static func test(_ name: String, _ value: JinjaValue, _ args: [JinjaValue]) throws -> Bool {
        func argument() throws -> JinjaValue {
            guard let first = args.first else { throw JinjaFailure.message("test '\(name)' needs an argument") }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number": return value.numeric != nil
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .dict = value { return true } else { return false }
        case "iterable":
            switch value {
            case .list, .dict, .string, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .list, .dict, .string: return true
            default: return false
            }
        case "callable": if case .callable = value { return true } else { return false }
        case "odd", "even":
            guard let i = value.integer else { throw JinjaFailure.message("test '\(name)' needs an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard let i = value.integer, let d = try argument().integer, d != 0 else {
                throw JinjaFailure.message("test 'divisibleby' needs integers")
            }
            return i % d == 0
        case "eq", "equalto", "==", "sameas": return value.equals(try argument())
        case "ne", "!=": return !value.equals(try argument())
        case "lt", "lessthan", "<": return try compare("<", value, try argument())
        case "le", "<=": return try compare("<=", value, try argument())
        case "gt", "greaterthan", ">": return try compare(">", value, try argument())
        case "ge", ">=": return try compare(">=", value, try argument())
        case "in": return try contains(try argument(), value)
        case "lower", "upper":
            guard case .string(let s) = value else { return false }
            return name == "lower" ? s == s.lowercased() : s == s.uppercased()
        default: throw JinjaFailure.message("no test named '\(name)'")
        }
    }

    // MARK: filters

    static func filter(_ name: String, _ value: JinjaValue, _ args: [JinjaValue], _ kwargs: JinjaDict) throws -> JinjaValue {
        func arg(_ position: Int, _ keyword: String) -> JinjaValue? {
            kwargs[keyword] ?? (args.indices.contains(position) ? args[position] : nil)
        }
        switch name {
        case "trim":
            return .string(JinjaMethods.strip(value.text, arg(0, "chars"), leading: true, trailing: true))
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l): return .int(l.count)
            case .dict(let d): return .int(d.entries.count)
            case .undefined: return .int(0)
            default: throw JinjaFailure.message("object of type '\(value.typeName)' has no len()")
            }
        case "tojson":
            return .string(try JinjaJSON.dumps(value, kwargs: kwargs, positionalIndent: args.first))
        case "string":
            return .string(value.text)
        case "upper":
            return .string(value.text.uppercased())
        case "lower":
            return .string(value.text.lowercased())
        case "capitalize":
            return .string(JinjaMethods.capitalize(value.text))
        case "title":
            return .string(JinjaMethods.title(value.text))
        case "default", "d":
            let fallback = arg(0, "default_value") ?? .string("")
            let boolean = arg(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "first":
            return try iterate(value).first ?? .undefined("no first item, sequence was empty")
        case "last":
            return try iterate(value).last ?? .undefined("no last item, sequence was empty")
        case "join":
            var items = try iterate(value)
            if let attribute = arg(1, "attribute") { items = try items.map { try item($0, attribute) } }
            return .string(items.map(\.text).joined(separator: arg(0, "d")?.text ?? ""))
        case "list":
            return .list(try iterate(value))
        case "reverse":
            if case .string(let s) = value { return .string(String(scalars: s.unicodeScalars.reversed())) }
            return .list(try iterate(value).reversed())
        case "replace":
            guard let old = arg(0, "old"), let new = arg(1, "new") else { throw JinjaFailure.message("replace needs two arguments") }
            return .string(JinjaMethods.replace(value.text, old.text, new.text, count: arg(2, "count")?.integer ?? -1))
        case "int":
            switch value {
            case .int: return value
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .int(Int(d))
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces)
                if let i = Int(t) { return .int(i) }
                if let d = Double(t) { return .int(Int(d)) }
                return arg(0, "default") ?? .int(0)
            default: return arg(0, "default") ?? .int(0)
            }
        case "float":
            if let n = value.numeric { return .double(n) }
            if case .string(let s) = value, let d = Double(s.trimmingCharacters(in: .whitespaces)) { return .double(d) }
            return arg(0, "default") ?? .double(0)
        case "abs":
            if case .int(let i) = value { return .int(Swift.abs(i)) }
            guard let n = value.numeric else { throw JinjaFailure.message("bad operand type for abs(): '\(value.typeName)'") }
            return .double(Swift.abs(n))
        case "items":
            guard case .dict(let d) = value else { throw JinjaFailure.message("items filter needs a mapping") }
            return .list(d.entries.map { .list([.string($0.key), $0.value]) })
        case "safe":
            return value
        case "e", "escape":
            var out = ""
            for ch in value.text.unicodeScalars {
                switch ch {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.unicodeScalars.append(ch)
                }
            }
            return .string(out)
        case "map":
            let items = try iterate(value)
            if let attribute = kwargs["attribute"] {
                return .list(try items.map { try item($0, attribute) })
            }
            guard let filterName = args.first?.text else { throw JinjaFailure.message("map needs a filter name or attribute=") }
            return .list(try items.map { try filter(filterName, $0, Array(args.dropFirst()), JinjaDict()) })
        case "select", "reject":
            let keep = name == "select"
            return .list(try iterate(value).filter { item in
                let passed = args.isEmpty ? item.isTruthy : try test(args[0].text, item, Array(args.dropFirst()))
                return passed == keep
            })
        case "selectattr", "rejectattr":
            guard let attribute = args.first else { throw JinjaFailure.message("\(name) needs an attribute name") }
            let keep = name == "selectattr"
            return .list(try iterate(value).filter { element in
                let field = try item(element, attribute)
                let passed = args.count < 2 ? field.isTruthy : try test(args[1].text, field, Array(args.dropFirst(2)))
                return passed == keep
            })
        case "unique":
            var seen: [JinjaValue] = []
            for element in try iterate(value) where !seen.contains(where: { $0.equals(element) }) { seen.append(element) }
            return .list(seen)
        case "sort":
            let reverse = arg(0, "reverse")?.isTruthy ?? false
            let attribute = kwargs["attribute"]
            var failure: Error?
            let sorted = try iterate(value).sorted { a, b in
                do {
                    let x = try attribute.map { try item(a, $0) } ?? a
                    let y = try attribute.map { try item(b, $0) } ?? b
                    return reverse ? try y.lessThan(x) : try x.lessThan(y)
                } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
            return .list(sorted)
        default:
            throw JinjaFailure.message("no filter named '\(name)'")
        }
    }

    // MARK: strftime

    /// The common `strftime` codes (`strftime_now` in Llama 3 templates), in the C locale.
    static func strftime(_ format: String, _ date: Date) -> String {
        let calendar = Calendar(identifier: .gregorian)
        let c = calendar.dateComponents(in: TimeZone.current, from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        var out = ""
        var scalars = format.unicodeScalars.makeIterator()
        while let s = scalars.next() {
            guard s == "%", let code = scalars.next() else {
                out.unicodeScalars.append(s)
                continue
            }
            switch code {
            case "Y": out += String(c.year ?? 0)
            case "y": out += two((c.year ?? 0) % 100)
            case "m": out += two(c.month)
            case "d": out += two(c.day)
            case "H": out += two(c.hour)
            case "I": out += two(((c.hour ?? 0) + 11) % 12 + 1)
            case "p": out += (c.hour ?? 0) < 12 ? "AM" : "PM"
            case "M": out += two(c.minute)
            case "S": out += two(c.second)
            case "B": out += months[(c.month ?? 1) - 1]
            case "b": out += String(months[(c.month ?? 1) - 1].prefix(3))
            case "A": out += days[(c.weekday ?? 1) - 1]
            case "a": out += String(days[(c.weekday ?? 1) - 1].prefix(3))
            case "j": out += String(format: "%03d", calendar.ordinality(of: .day, in: .year, for: date) ?? 0)
            case "%": out += "%"
            default: out += "%" + String(code)
            }
        }
        return out
    }
}

extension JinjaValue {
    /// Ints and bools (Python bools are ints) as Int.
    var integer: Int? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

extension String {
    /// The first occurrence of `needle`, comparing Unicode scalars exactly (no canonical
    /// equivalence), as scalar offsets.
    func scalarRange(of needle: String, from start: Int = 0) -> Range<Int>? {
        let hay = Array(unicodeScalars), pin = Array(needle.unicodeScalars)
        guard pin.count <= hay.count else { return nil }
        if pin.isEmpty { return start <= hay.count ? start..<start : nil }
        var i = start
        while i + pin.count <= hay.count {
            if hay[i] == pin[0] && hay[i..<(i + pin.count)].elementsEqual(pin) { return i..<(i + pin.count) }
            i += 1
        }
        return nil
    }
}
