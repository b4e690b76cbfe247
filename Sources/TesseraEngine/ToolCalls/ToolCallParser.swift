/// A tool call read from a model's output: the function's name and its arguments as JSON text.
public struct ParsedToolCall: Sendable, Equatable {
    public var name: String
    public var arguments: String

    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}

/// What a piece of output turned out to be.
public enum ToolCallEvent: Sendable, Equatable {
    case content(String)
    case call(ParsedToolCall)
}

/// Reads tool calls out of a model's output as it streams, in the family's `ToolCallFormat`.
///
/// Hermes: text outside `<tool_call>...</tool_call>` is content and goes out as it comes,
/// except a tail that may be the start of the marker, which is held back; a block goes out as
/// one call once it closes (or at the end, unclosed). Llama 3: an answer that starts with `{`
/// is held to the end and read as calls separated by `;`. What does not read as a call to one
/// of the tools (not JSON, an unknown name, arguments that are not an object) stays content,
/// markers included. Content is trimmed: leading whitespace is dropped and trailing whitespace
/// is held until more text follows, so that streamed content equals `parse`'s.
public struct ToolCallStreamParser: Sendable {
    public let format: ToolCallFormat
    public let toolNames: Set<String>
    private var buffer = ""
    /// Hermes: after an opening marker.
    private var inside = false
    /// Llama 3: nil until the first visible character says whether the answer is calls.
    private var holdingCalls: Bool?
    private var heldSpace = ""
    private var contentStarted = false

    public init(format: ToolCallFormat, toolNames: Set<String>) {
        self.format = format
        self.toolNames = toolNames
    }

    /// The events `text` (the next piece of output) completes.
    public mutating func append(_ text: String) -> [ToolCallEvent] {
        var events: [ToolCallEvent] = []
        buffer += text
        switch format {
        case .hermes: hermes(&events, final: false)
        case .llama3: llama3(&events, final: false)
        }
        return events
    }

    /// The events left at the end of the output.
    public mutating func finish() -> [ToolCallEvent] {
        var events: [ToolCallEvent] = []
        switch format {
        case .hermes: hermes(&events, final: true)
        case .llama3: llama3(&events, final: true)
        }
        buffer = ""
        heldSpace = ""
        return events
    }

    /// A whole output at once: its content (nil when none) and its calls.
    public static func parse(_ text: String, format: ToolCallFormat, toolNames: Set<String>) -> (content: String?, calls: [ParsedToolCall]) {
        var parser = ToolCallStreamParser(format: format, toolNames: toolNames)
        var content = ""
        var calls: [ParsedToolCall] = []
        for event in parser.append(text) + parser.finish() {
            switch event {
            case .content(let piece): content += piece
            case .call(let call): calls.append(call)
            }
        }
        return (content.isEmpty ? nil : content, calls)
    }

    // MARK: - Hermes

    private mutating func hermes(_ events: inout [ToolCallEvent], final: Bool) {
        let open = ToolCallFormat.hermesOpen, close = ToolCallFormat.hermesClose
        while true {
            if !inside {
                if let marker = buffer.range(of: open) {
                    emit(String(buffer[..<marker.lowerBound]), &events)
                    buffer = String(buffer[marker.upperBound...])
                    inside = true
                    continue
                }
                let keep = final ? 0 : Self.markerPrefixLength(buffer, open)
                emit(String(buffer.dropLast(keep)), &events)
                buffer = String(buffer.suffix(keep))
                return
            }
            if let marker = buffer.range(of: close) {
                let block = String(buffer[..<marker.lowerBound])
                buffer = String(buffer[marker.upperBound...])
                inside = false
                if let call = call(block) { events.append(.call(call)) } else { emit(open + block + close, &events) }
                continue
            }
            guard final else { return }
            // The output ended inside a block (models often stop before the closing marker).
            if let call = call(buffer) { events.append(.call(call)) } else { emit(open + buffer, &events) }
            buffer = ""
            inside = false
            return
        }
    }

    /// The length of the longest tail of `text` that begins `marker` (held back: it may be one).
    static func markerPrefixLength(_ text: String, _ marker: String) -> Int {
        var length = min(text.count, marker.count - 1)
        while length > 0 {
            if marker.hasPrefix(String(text.suffix(length))) { return length }
            length -= 1
        }
        return 0
    }

    // MARK: - Llama 3

    private mutating func llama3(_ events: inout [ToolCallEvent], final: Bool) {
        if holdingCalls == nil {
            var visible = buffer.drop { $0.isWhitespace }
            if visible.hasPrefix("<|python_tag|>") { visible = visible.dropFirst("<|python_tag|>".count) }
            if let first = visible.first { holdingCalls = first == "{" }
        }
        switch holdingCalls {
        case false?:
            emit(buffer, &events)
            buffer = ""
        case true?:
            guard final else { return }
            if let calls = llama3Calls(buffer) {
                events += calls.map(ToolCallEvent.call)
            } else {
                emit(buffer, &events)
            }
            buffer = ""
        case nil:
            if final { buffer = "" }
        }
    }

    /// `{...}; {...}` as calls, or nil if any part is not one.
    private func llama3Calls(_ text: String) -> [ParsedToolCall]? {
        var bytes = Array(text.utf8)[...]
        var calls: [ParsedToolCall] = []
        func skipSpace() { while let b = bytes.first, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { bytes = bytes.dropFirst() } }
        skipSpace()
        let tag = Array("<|python_tag|>".utf8)
        if bytes.starts(with: tag) { bytes = bytes.dropFirst(tag.count) }
        while true {
            skipSpace()
            guard let end = Self.objectEnd(bytes) else { return nil }
            guard let call = call(String(decoding: bytes[..<end], as: UTF8.self)) else { return nil }
            calls.append(call)
            bytes = bytes[end...]
            skipSpace()
            if bytes.isEmpty { return calls }
            guard bytes.first == UInt8(ascii: ";") else { return nil }
            bytes = bytes.dropFirst()
        }
    }

    /// The index just past the JSON object that starts `bytes`, found by counting braces
    /// outside strings; nil when it does not start with `{` or does not close.
    static func objectEnd(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.first == UInt8(ascii: "{") else { return nil }
        var depth = 0, inString = false, escaped = false
        for i in bytes.indices {
            let b = bytes[i]
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return i + 1 }
            default: break
            }
        }
        return nil
    }

    // MARK: - Shared

    /// `{"name": <a tool>, "arguments" (or "parameters"): {...}}` as a call; the arguments may
    /// also come as a string holding the object (some models quote them).
    private func call(_ text: String) -> ParsedToolCall? {
        guard let value = try? JSONValue.parse(text), case .string(let name)? = value["name"], toolNames.contains(name) else {
            return nil
        }
        var arguments = value["arguments"] ?? value["parameters"] ?? .object([])
        if case .string(let quoted) = arguments, let inner = try? JSONValue.parse(quoted) { arguments = inner }
        guard case .object = arguments else { return nil }
        return ParsedToolCall(name: name, arguments: arguments.compactText)
    }

    /// Content, trimmed as the type's comment says.
    private mutating func emit(_ text: String, _ events: inout [ToolCallEvent]) {
        var text = heldSpace + text
        heldSpace = ""
        if !contentStarted { text = String(text.drop { $0.isWhitespace }) }
        guard !text.isEmpty else { return }
        let body = text.reversed().drop { $0.isWhitespace }
        heldSpace = String(text.suffix(text.count - body.count))
        guard !body.isEmpty else { return }
        contentStarted = true
        events.append(.content(String(text.prefix(body.count))))
    }
}
