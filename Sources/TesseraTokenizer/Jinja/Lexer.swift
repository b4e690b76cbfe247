/// Jinja tokens, lexed the way jinja2 does with the settings `transformers` uses for chat
/// templates: `trim_blocks=True` (the newline after a block tag or comment is dropped),
/// `lstrip_blocks=True` (spaces before a block tag or comment on its own line are dropped),
/// `keep_trailing_newline=False`, plus the `-` / `+` whitespace-control markers.
struct JinjaToken: Equatable {
    enum Kind: Equatable {
        case data(String)
        case blockBegin, blockEnd, variableBegin, variableEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case end
    }

    var kind: Kind
    /// Index of the token's first scalar in the (newline-normalized) source.
    var offset: Int
}

struct JinjaLexer {
    let source: [Unicode.Scalar]
    private var pos = 0
    private var tokens: [JinjaToken] = []
    /// Whether the last thing lexed ended with a newline (jinja2's `line_starting`), which lets
    /// `lstrip_blocks` strip a tag's indentation even without a newline in the text before it.
    private var lineStarting = true

    /// Applies jinja2's source preparation: `\r\n` and `\r` become `\n`, and one trailing newline
    /// is removed.
    init(template: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(template.unicodeScalars.count)
        var previousWasCR = false
        for s in template.unicodeScalars {
            if s == "\r" {
                scalars.append("\n")
                previousWasCR = true
                continue
            }
            if s == "\n" && previousWasCR { previousWasCR = false; continue }
            previousWasCR = false
            scalars.append(s)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        self.source = scalars
    }

    static func tokenize(_ template: String) throws -> (tokens: [JinjaToken], source: [Unicode.Scalar]) {
        var lexer = JinjaLexer(template: template)
        try lexer.run()
        return (lexer.tokens, lexer.source)
    }

    private mutating func run() throws {
        while pos < source.count {
            guard let tagStart = nextTagStart(from: pos) else {
                emitData(String(scalars: source[pos...]), at: pos)
                pos = source.count
                break
            }
            let kind = source[tagStart + 1]  // "%", "{" or "#"
            var afterTag = tagStart + 2
            var sign: Unicode.Scalar?
            if afterTag < source.count, source[afterTag] == "-" || source[afterTag] == "+" {
                sign = source[afterTag]
                afterTag += 1
            }
            var text = Array(source[pos..<tagStart])
            if sign == "-" {
                while let last = text.last, last.isPythonSpace { text.removeLast() }
            } else if sign != "+" && kind != "{" {
                // lstrip_blocks: drop the spaces between the line start and a block tag or comment.
                let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
                if (lineStart > 0 || lineStarting) && lineStart < text.count
                    && text[lineStart...].allSatisfy({ $0.isPythonSpace })
                {
                    text.removeSubrange(lineStart...)
                }
            }
            emitData(String(scalars: text[...]), at: pos)
            pos = afterTag
            switch kind {
            case "#": try lexComment(start: tagStart)
            case "%":
                if try lexRawBlock(start: tagStart) { continue }
                tokens.append(JinjaToken(kind: .blockBegin, offset: tagStart))
                try lexTag(block: true, start: tagStart)
            default:
                tokens.append(JinjaToken(kind: .variableBegin, offset: tagStart))
                try lexTag(block: false, start: tagStart)
            }
        }
        tokens.append(JinjaToken(kind: .end, offset: source.count))
    }

    private mutating func emitData(_ text: String, at offset: Int) {
        if !text.isEmpty { tokens.append(JinjaToken(kind: .data(text), offset: offset)) }
    }

    private func nextTagStart(from start: Int) -> Int? {
        var i = start
        while i + 1 < source.count {
            if source[i] == "{" {
                let next = source[i + 1]
                if next == "%" || next == "{" || next == "#" { return i }
            }
            i += 1
        }
        return nil
    }

    private func hasPrefix(_ text: String, at i: Int) -> Bool {
        var k = i
        for s in text.unicodeScalars {
            guard k < source.count, source[k] == s else { return false }
            k += 1
        }
        return true
    }

    /// After a block end or comment end: `-` strips all following whitespace, a plain end drops
    /// one newline (trim_blocks), `+` keeps everything.
    private mutating func consumeTrailing(sign: Unicode.Scalar?) {
        if sign == "-" {
            while pos < source.count && source[pos].isPythonSpace { pos += 1 }
        } else if sign == nil && pos < source.count && source[pos] == "\n" {
            pos += 1
        }
        lineStarting = pos > 0 && source[pos - 1] == "\n"
    }

    private mutating func lexComment(start: Int) throws {
        var i = pos
        while i + 1 < source.count {
            if source[i] == "#" && source[i + 1] == "}" {
                let before: Unicode.Scalar? = i > pos ? source[i - 1] : nil
                pos = i + 2
                consumeTrailing(sign: before == "-" || before == "+" ? before : nil)
                return
            }
            i += 1
        }
        throw syntaxError("missing end of comment tag", at: start)
    }

    /// `{% raw %}...{% endraw %}`: the text in between is data, not template code.
    private mutating func lexRawBlock(start: Int) throws -> Bool {
        var i = pos
        while i < source.count && source[i].isPythonSpace { i += 1 }
        guard hasPrefix("raw", at: i) else { return false }
        i += 3
        while i < source.count && source[i].isPythonSpace { i += 1 }
        var openSign: Unicode.Scalar?
        if hasPrefix("-%}", at: i) { openSign = "-"; i += 3 } else if hasPrefix("%}", at: i) { i += 2 } else { return false }
        if openSign == "-" { while i < source.count && source[i].isPythonSpace { i += 1 } }
        var k = i
        while k < source.count {
            if hasPrefix("{%", at: k) {
                var j = k + 2
                var sign: Unicode.Scalar?
                if j < source.count && (source[j] == "-" || source[j] == "+") { sign = source[j]; j += 1 }
                while j < source.count && source[j].isPythonSpace { j += 1 }
                if hasPrefix("endraw", at: j) {
                    j += 6
                    while j < source.count && source[j].isPythonSpace { j += 1 }
                    var closeSign: Unicode.Scalar?
                    if j < source.count && (source[j] == "-" || source[j] == "+") { closeSign = source[j]; j += 1 }
                    if hasPrefix("%}", at: j) {
                        var text = Array(source[i..<k])
                        if sign == "-" { while let last = text.last, last.isPythonSpace { text.removeLast() } }
                        emitData(String(scalars: text[...]), at: i)
                        pos = j + 2
                        consumeTrailing(sign: closeSign)
                        return true
                    }
                }
            }
            k += 1
        }
        throw syntaxError("missing end of raw directive", at: start)
    }

    /// The inside of `{% ... %}` or `{{ ... }}` up to its end marker (only recognised while
    /// brackets are balanced, so `{{ {'a': 1} }}` works).
    private mutating func lexTag(block: Bool, start: Int) throws {
        var brackets: [Unicode.Scalar] = []
        while true {
            guard pos < source.count else {
                throw syntaxError("unexpected end of template, expected '\(block ? "%}" : "}}")'", at: start)
            }
            if brackets.isEmpty {
                if block {
                    for (marker, sign) in [("+%}", "+"), ("-%}", "-"), ("%}", nil)] as [(String, Unicode.Scalar?)]
                    where hasPrefix(marker, at: pos) {
                        tokens.append(JinjaToken(kind: .blockEnd, offset: pos))
                        pos += marker.unicodeScalars.count
                        consumeTrailing(sign: sign)
                        return
                    }
                } else {
                    for (marker, sign) in [("-}}", "-"), ("}}", "+")] as [(String, Unicode.Scalar?)]
                    where hasPrefix(marker, at: pos) {
                        tokens.append(JinjaToken(kind: .variableEnd, offset: pos))
                        pos += marker.unicodeScalars.count
                        // `}}` never trims a newline; `-}}` strips whitespace.
                        consumeTrailing(sign: sign)
                        return
                    }
                }
            }
            let s = source[pos]
            if s.isPythonSpace { pos += 1; continue }
            let start = pos
            if s.isASCIIDigit {
                tokens.append(JinjaToken(kind: try lexNumber(), offset: start))
            } else if s == "_" || s.properties.isAlphabetic {
                var j = pos
                while j < source.count && (source[j] == "_" || source[j].properties.isAlphabetic || source[j].isASCIIDigit) { j += 1 }
                tokens.append(JinjaToken(kind: .name(String(scalars: source[pos..<j])), offset: start))
                pos = j
            } else if s == "'" || s == "\"" {
                tokens.append(JinjaToken(kind: .string(try lexString()), offset: start))
            } else if let op = lexOperator() {
                switch op {
                case "(": brackets.append(")")
                case "[": brackets.append("]")
                case "{": brackets.append("}")
                case ")", "]", "}":
                    guard let expected = brackets.popLast() else { throw syntaxError("unexpected '\(op)'", at: start) }
                    if String(expected) != op { throw syntaxError("unexpected '\(op)', expected '\(expected)'", at: start) }
                default: break
                }
                tokens.append(JinjaToken(kind: .op(op), offset: start))
            } else {
                throw syntaxError("unexpected character '\(s)'", at: start)
            }
        }
    }

    private static let operators = [
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    private mutating func lexOperator() -> String? {
        for op in Self.operators where hasPrefix(op, at: pos) {
            pos += op.unicodeScalars.count
            return op
        }
        return nil
    }

    private mutating func lexNumber() throws -> JinjaToken.Kind {
        let start = pos
        var digits = ""
        func readDigits() {
            while pos < source.count, source[pos].isASCIIDigit || (source[pos] == "_" && pos + 1 < source.count && source[pos + 1].isASCIIDigit) {
                if source[pos] != "_" { digits.unicodeScalars.append(source[pos]) }
                pos += 1
            }
        }
        readDigits()
        var isFloat = false
        if pos + 1 < source.count && source[pos] == "." && source[pos + 1].isASCIIDigit {
            isFloat = true
            digits += "."
            pos += 1
            readDigits()
        }
        if pos < source.count && (source[pos] == "e" || source[pos] == "E") {
            var j = pos + 1
            if j < source.count && (source[j] == "+" || source[j] == "-") { j += 1 }
            if j < source.count && source[j].isASCIIDigit {
                isFloat = true
                digits += "e"
                if source[pos + 1] == "-" { digits += "-" }
                pos = j
                readDigits()
            }
        }
        if isFloat {
            guard let value = Double(digits) else { throw syntaxError("invalid number", at: start) }
            return .float(value)
        }
        guard let value = Int(digits) else { throw syntaxError("integer out of range", at: start) }
        return .integer(value)
    }

    /// A quoted string, unescaped as Python's `unicode-escape` codec does (which is what jinja2
    /// applies to literals): `\n`, `\t`, `\\`, `\'`, `\xhh`, `\uXXXX`, ...; unknown escapes stay.
    private mutating func lexString() throws -> String {
        let start = pos
        let quote = source[pos]
        pos += 1
        var out = String.UnicodeScalarView()
        while pos < source.count {
            let s = source[pos]
            if s == quote {
                pos += 1
                return String(out)
            }
            if s != "\\" {
                out.append(s)
                pos += 1
                continue
            }
            guard pos + 1 < source.count else { break }
            let e = source[pos + 1]
            pos += 2
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard pos + width <= source.count,
                      let value = UInt32(String(scalars: source[pos..<(pos + width)]), radix: 16),
                      let scalar = Unicode.Scalar(value)
                else { throw syntaxError("invalid \\\(e) escape in string", at: pos - 2) }
                out.append(scalar)
                pos += width
            case "0"..."7":
                var value = e.value - 0x30
                var n = 1
                while n < 3 && pos < source.count && ("0"..."7").contains(source[pos]) {
                    value = value * 8 + source[pos].value - 0x30
                    pos += 1
                    n += 1
                }
                out.append(Unicode.Scalar(value)!)
            default:
                out.append("\\")
                out.append(e)
            }
        }
        throw syntaxError("unterminated string", at: start)
    }

    private func syntaxError(_ message: String, at offset: Int) -> TokenizerError {
        let (line, column) = JinjaLexer.lineAndColumn(of: offset, in: source)
        return .templateSyntax(line: line, column: column, message: message)
    }

    /// 1-based line and column of a scalar offset.
    static func lineAndColumn(of offset: Int, in source: [Unicode.Scalar]) -> (Int, Int) {
        var line = 1, column = 1
        for s in source[..<min(offset, source.count)] {
            if s == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}

extension Unicode.Scalar {
    /// Python's `str.isspace()` (and `\s` of its `re`): White_Space plus U+001C...U+001F.
    var isPythonSpace: Bool {
        properties.isWhitespace || (0x1C...0x1F).contains(value)
    }

    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    init<S: Sequence>(scalars: S) where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self = String(view)
    }
}
