/// The character classes the pre-tokenizer patterns test, as bits, one byte per scalar.
///
/// The patterns of GPT-2, Qwen2 and Llama 3 only ask whether a character is a letter (`\p{L}`),
/// a number (`\p{N}`), whitespace (`\s`), a line break (`[\r\n]`) or the plain space; everything
/// else is "other" (`[^\s\p{L}\p{N}]`). `\s` in Oniguruma (which Hugging Face tokenizers use) is
/// the Unicode White_Space property, which is what `Unicode.Scalar.Properties.isWhitespace` reports.
struct ScalarClass: OptionSet, Sendable {
    let rawValue: UInt8

    static let letter = ScalarClass(rawValue: 1)
    static let number = ScalarClass(rawValue: 2)
    static let whitespace = ScalarClass(rawValue: 4)
    /// `\r` or `\n` (also whitespace).
    static let lineBreak = ScalarClass(rawValue: 8)
    /// U+0020 only: the optional ` ?` prefix of the patterns (also whitespace).
    static let space = ScalarClass(rawValue: 16)
    /// `'`, which starts a contraction.
    static let apostrophe = ScalarClass(rawValue: 32)

    /// Neither whitespace, letter nor number.
    var isOther: Bool { rawValue & 7 == 0 }

    static func of(_ scalar: Unicode.Scalar) -> ScalarClass {
        if scalar.value < 128 { return asciiTable[Int(scalar.value)] }
        return compute(scalar)
    }

    private static let asciiTable: [ScalarClass] = (0..<128).map { compute(Unicode.Scalar(UInt8($0))) }

    private static func compute(_ scalar: Unicode.Scalar) -> ScalarClass {
        var result: ScalarClass = []
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        default:
            break
        }
        if scalar.properties.isWhitespace { result.insert(.whitespace) }
        if scalar == "\r" || scalar == "\n" { result.insert(.lineBreak) }
        if scalar == " " { result.insert(.space) }
        if scalar == "'" { result.insert(.apostrophe) }
        return result
    }
}
