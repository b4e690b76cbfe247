/// GPT-2's reversible byte <-> printable-character table.
///
/// Byte-level BPE vocabularies never store raw bytes: every byte is replaced by a visible
/// Unicode character first (printable Latin-1 bytes stand for themselves, the other 68 bytes are
/// shifted to U+0100...), so that a token such as " the" is stored as "Ġthe".
enum ByteLevel {
    /// `scalarForByte[b]` is the character that stands for byte `b`.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var shifted: UInt32 = 0
        for byte in 0..<256 {
            if isPrintable(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(256 + shifted)!
                shifted += 1
            }
        }
        return table
    }()

    /// The inverse table, indexed by scalar value (every mapped scalar is below U+0144).
    static let byteForScalarValue: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarForByte.enumerated() {
            table[Int(scalar.value)] = Int16(byte)
        }
        return table
    }()

    /// The bytes GPT-2 kept as themselves: `!`...`~`, `¡`...`¬`, `®`...`ÿ`.
    private static func isPrintable(_ byte: Int) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = Int(scalar.value)
        guard value < byteForScalarValue.count else { return nil }
        let byte = byteForScalarValue[value]
        return byte < 0 ? nil : UInt8(byte)
    }

    /// The bytes a token string stands for, decoded the way Hugging Face's ByteLevel decoder does:
    /// if every character belongs to the table the token is mapped back byte by byte, otherwise
    /// (an added token such as "hello world" with a plain space) its own UTF-8 is used.
    static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return Array(token.utf8) }
            out.append(byte)
        }
        return out
    }

    /// The table's spelling of raw bytes: the inverse of `bytes(ofToken:)` for vocabulary tokens.
    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(scalarForByte[Int(byte)]) }
        return String(text)
    }
}
