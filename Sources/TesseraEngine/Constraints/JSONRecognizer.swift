/// A JSON number being read: which part, and how many digits it holds (numbers are bounded so
/// that a model cannot loop on digits: at most 16 integer digits, 16 fraction digits and 3
/// exponent digits).
struct NumberState: Hashable, Sendable {
    enum Phase: UInt8 { case start, minus, zero, integer, dot, fraction, e, exponentSign, exponent }
    var phase: Phase = .start
    var digits: UInt8 = 0

    static let maxIntegerDigits: UInt8 = 16
    static let maxFractionDigits: UInt8 = 16
    static let maxExponentDigits: UInt8 = 3

    var isComplete: Bool { phase == .zero || phase == .integer || phase == .fraction || phase == .exponent }

    func advance(_ byte: UInt8, integer: Bool, bounded: Bool = true) -> NumberState? {
        let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        func grow(_ phase: Phase, limit: UInt8) -> NumberState? {
            if bounded && digits >= limit { return nil }
            return NumberState(phase: phase, digits: digits + 1)
        }
        switch phase {
        case .start:
            if byte == UInt8(ascii: "-") { return NumberState(phase: .minus) }
            fallthrough
        case .minus:
            if byte == UInt8(ascii: "0") { return NumberState(phase: .zero, digits: 1) }
            return isDigit ? NumberState(phase: .integer, digits: 1) : nil
        case .zero, .integer:
            if isDigit { return phase == .zero ? nil : grow(.integer, limit: Self.maxIntegerDigits) }
            if integer { return nil }
            if byte == UInt8(ascii: ".") { return NumberState(phase: .dot) }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return NumberState(phase: .e) }
            return nil
        case .dot:
            return isDigit ? NumberState(phase: .fraction, digits: 1) : nil
        case .fraction:
            if isDigit { return grow(.fraction, limit: Self.maxFractionDigits) }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return NumberState(phase: .e) }
            return nil
        case .e:
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { return NumberState(phase: .exponentSign) }
            return isDigit ? NumberState(phase: .exponent, digits: 1) : nil
        case .exponentSign:
            return isDigit ? NumberState(phase: .exponent, digits: 1) : nil
        case .exponent:
            return isDigit ? grow(.exponent, limit: Self.maxExponentDigits) : nil
        }
    }
}

/// One level of what is being read.
enum JSONFrame: Hashable, Sendable {
    enum ObjectPhase: UInt8 {
        /// After `{`: a key or `}`.
        case open
        /// After `,`: a key.
        case comma
        /// After a key: `:`.
        case colon
        /// After a member's value: `,` or `}`.
        case member
    }
    enum ArrayPhase: UInt8 { case open, comma, item }

    /// A value of `node` is to start.
    case value(node: Int32)
    /// Inside the bytes of literal `node`, `at` of them read.
    case literal(node: Int32, at: Int32)
    /// Inside the key (quotes included) of property `property` of object `node`.
    case key(node: Int32, property: Int32, at: Int32)
    /// Inside a string, after its opening quote. `escape`: 0 none, 1 after `\`, 2...5 hex
    /// digits of `\u` still to come, plus 1. `continuation`: UTF-8 continuation bytes to come.
    case string(escape: UInt8, continuation: UInt8)
    case number(NumberState, integer: Bool)
    /// An object of `node`; with properties, `next` is the first property that may still come.
    case object(node: Int32, next: Int32, phase: ObjectPhase)
    case array(node: Int32, count: Int32, phase: ArrayPhase)
}

/// An incremental recognizer of the valid prefixes of the documents a `JSONSchemaGrammar`
/// accepts, byte by byte. The state is a small value: the stacks of frames still possible
/// (several only while `anyOf`/enum branches are undecided), copied by value.
public struct JSONRecognizer: Hashable, Sendable {
    let grammar: JSONSchemaGrammar
    /// Each stack is one way to have read the bytes so far; empty when none (dead).
    private(set) var stacks: [[JSONFrame]]

    public init(grammar: JSONSchemaGrammar) {
        self.grammar = grammar
        stacks = [[.value(node: grammar.root)]]
    }

    public static func == (a: JSONRecognizer, b: JSONRecognizer) -> Bool { a.stacks == b.stacks }
    public func hash(into hasher: inout Hasher) { hasher.combine(stacks) }

    /// Whether the bytes read so far can still become a document.
    public var isAlive: Bool { !stacks.isEmpty }

    /// Whether the bytes read so far are a whole document.
    public var isComplete: Bool {
        stacks.contains { stack in
            var rest = stack[...]
            if case .number(let n, _)? = rest.last {
                guard n.isComplete else { return false }
                rest = rest.dropLast()
            }
            // What is left to come may be nothing (tool calls: more calls are optional).
            return rest.allSatisfy { frame in
                if case .value(let node) = frame { return grammar.nullable[Int(node)] }
                return false
            }
        }
    }

    /// Whether some byte could still follow.
    public var canContinue: Bool { stacks.contains { !$0.isEmpty } }

    /// The state after `byte`, or nil if no document has this prefix.
    public func advanced(_ byte: UInt8) -> JSONRecognizer? {
        var next: [[JSONFrame]] = []
        for stack in stacks {
            var stack = stack
            feed(&stack, byte, into: &next)
        }
        guard !next.isEmpty else { return nil }
        var copy = self
        if next.count > 1 {
            var seen: Set<[JSONFrame]> = []
            next = next.filter { seen.insert($0).inserted }
        }
        copy.stacks = next
        return copy
    }

    /// Reads `bytes`; false (and the state unchanged) if they leave the language.
    public mutating func accept<S: Sequence>(_ bytes: S) -> Bool where S.Element == UInt8 {
        var state = self
        for byte in bytes {
            guard let next = state.advanced(byte) else { return false }
            state = next
        }
        self = state
        return true
    }

    public mutating func accept(_ text: String) -> Bool { accept(Array(text.utf8)) }

    private func properties(_ node: Int32) -> [SchemaNode.Property] {
        if case .object(let properties, _) = grammar.nodes[Int(node)] { return properties }
        return []
    }

    /// Feeds `byte` to `stack`, appending every resulting stack to `out`.
    private func feed(_ stack: inout [JSONFrame], _ byte: UInt8, into out: inout [[JSONFrame]]) {
        guard let top = stack.last else { return }
        let quote = UInt8(ascii: "\"")
        switch top {
        case .value(let node):
            switch grammar.nodes[Int(node)] {
            case .pending: return
            case .union(let alternatives):
                for alternative in alternatives {
                    var branch = stack
                    branch[branch.count - 1] = .value(node: alternative)
                    feed(&branch, byte, into: &out)
                }
            case .object:
                guard byte == UInt8(ascii: "{") else { return }
                stack[stack.count - 1] = .object(node: node, next: 0, phase: .open)
                out.append(stack)
            case .array(_, _, let max):
                guard byte == UInt8(ascii: "[") else { return }
                _ = max
                stack[stack.count - 1] = .array(node: node, count: 0, phase: .open)
                out.append(stack)
            case .string:
                guard byte == quote else { return }
                stack[stack.count - 1] = .string(escape: 0, continuation: 0)
                out.append(stack)
            case .number(let integer):
                guard let number = NumberState().advance(byte, integer: integer) else { return }
                stack[stack.count - 1] = .number(number, integer: integer)
                out.append(stack)
            case .sequence(let items):
                stack.removeLast()
                for item in items.reversed() { stack.append(.value(node: item)) }
                feed(&stack, byte, into: &out)
            case .literal(let bytes):
                guard bytes.first == byte else { return }
                if bytes.count == 1 { stack.removeLast() } else { stack[stack.count - 1] = .literal(node: node, at: 1) }
                out.append(stack)
            }
        case .literal(let node, let at):
            guard case .literal(let bytes) = grammar.nodes[Int(node)], bytes[Int(at)] == byte else { return }
            if Int(at) + 1 == bytes.count { stack.removeLast() } else { stack[stack.count - 1] = .literal(node: node, at: at + 1) }
            out.append(stack)
        case .key(let node, let property, let at):
            let bytes = properties(node)[Int(property)].keyBytes
            guard bytes[Int(at)] == byte else { return }
            if Int(at) + 1 == bytes.count { stack.removeLast() } else { stack[stack.count - 1] = .key(node: node, property: property, at: at + 1) }
            out.append(stack)
        case .string(let escape, let continuation):
            guard let next = Self.string(escape: escape, continuation: continuation, byte) else { return }
            if let next { stack[stack.count - 1] = next } else { stack.removeLast() }
            out.append(stack)
        case .number(let number, let integer):
            if let next = number.advance(byte, integer: integer) {
                stack[stack.count - 1] = .number(next, integer: integer)
                out.append(stack)
            } else if number.isComplete {
                stack.removeLast()
                feed(&stack, byte, into: &out)
            }
        case .object(let node, let next, let phase):
            guard case .object(let properties, let free) = grammar.nodes[Int(node)] else { return }
            let closing = byte == UInt8(ascii: "}")
            switch phase {
            case .open, .comma:
                if closing {
                    guard phase == .open, !properties[Int(next)...].contains(where: \.required) else { return }
                    stack.removeLast()
                    out.append(stack)
                    return
                }
                guard byte == quote else { return }
                if properties.isEmpty {
                    guard free != nil else { return }
                    stack[stack.count - 1] = .object(node: node, next: 0, phase: .colon)
                    stack.append(.string(escape: 0, continuation: 0))
                    out.append(stack)
                    return
                }
                var candidate = Int(next)
                while candidate < properties.count {
                    var branch = stack
                    branch[branch.count - 1] = .object(node: node, next: Int32(candidate + 1), phase: .colon)
                    branch.append(.key(node: node, property: Int32(candidate), at: 1))
                    out.append(branch)
                    if properties[candidate].required { break }
                    candidate += 1
                }
            case .colon:
                guard byte == UInt8(ascii: ":") else { return }
                let value = properties.isEmpty ? free! : properties[Int(next) - 1].node
                stack[stack.count - 1] = .object(node: node, next: next, phase: .member)
                stack.append(.value(node: value))
                out.append(stack)
            case .member:
                if closing {
                    guard !properties[Int(next)...].contains(where: \.required) else { return }
                    stack.removeLast()
                    out.append(stack)
                } else if byte == UInt8(ascii: ",") {
                    guard properties.isEmpty || Int(next) < properties.count else { return }
                    stack[stack.count - 1] = .object(node: node, next: next, phase: .comma)
                    out.append(stack)
                }
            }
        case .array(let node, let count, let phase):
            guard case .array(let items, let min, let max) = grammar.nodes[Int(node)] else { return }
            let closing = byte == UInt8(ascii: "]")
            switch phase {
            case .open, .comma:
                if phase == .open && closing && min == 0 {
                    stack.removeLast()
                    out.append(stack)
                    return
                }
                if let max, Int(count) >= max { return }
                stack[stack.count - 1] = .array(node: node, count: count + 1, phase: .item)
                stack.append(.value(node: items))
                feed(&stack, byte, into: &out)
            case .item:
                if closing {
                    guard Int(count) >= min else { return }
                    stack.removeLast()
                    out.append(stack)
                } else if byte == UInt8(ascii: ",") {
                    if let max, Int(count) >= max { return }
                    stack[stack.count - 1] = .array(node: node, count: count, phase: .comma)
                    out.append(stack)
                }
            }
        }
    }

    /// The string frame after `byte`: `.some(nil)` when the string ends, nil when `byte` is not allowed.
    private static func string(escape: UInt8, continuation: UInt8, _ byte: UInt8) -> JSONFrame?? {
        if continuation > 0 {
            guard byte & 0xC0 == 0x80 else { return nil }
            return .some(.string(escape: 0, continuation: continuation - 1))
        }
        switch escape {
        case 0:
            switch byte {
            case UInt8(ascii: "\""): return .some(nil)
            case UInt8(ascii: "\\"): return .some(.string(escape: 1, continuation: 0))
            case 0..<0x20, 0x7F: return nil
            case 0x20..<0x80: return .some(.string(escape: 0, continuation: 0))
            case 0xC2...0xDF: return .some(.string(escape: 0, continuation: 1))
            case 0xE0...0xEF: return .some(.string(escape: 0, continuation: 2))
            case 0xF0...0xF4: return .some(.string(escape: 0, continuation: 3))
            default: return nil
            }
        case 1:
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                return .some(.string(escape: 0, continuation: 0))
            case UInt8(ascii: "u"): return .some(.string(escape: 5, continuation: 0))
            default: return nil
            }
        default:
            guard hexValue(byte) != nil else { return nil }
            return .some(.string(escape: escape == 2 ? 0 : escape - 1, continuation: 0))
        }
    }
}
