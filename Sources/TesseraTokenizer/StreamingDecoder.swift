/// Turns ids arriving one at a time into text without ever splitting a UTF-8 character.
///
/// A token may end in the middle of a multi-byte character (byte-level BPE splits emoji and CJK
/// freely), so bytes that could still become a valid character are held back until the token
/// that completes them arrives. Bytes that can never become valid are replaced by U+FFFD at once,
/// exactly where decoding the whole sequence would replace them, so the concatenation of all
/// returned chunks equals `decode` of all ids.
public struct StreamingDecoder: Sendable {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token and returns the text that is now complete (possibly empty).
    public mutating func append(_ id: Int) -> String {
        tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending)
        let cut = pending.count - Self.incompleteSuffixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is still held back; an unfinished character becomes U+FFFD.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// How many bytes at the end of `bytes` form a proper prefix of a well-formed UTF-8 sequence
    /// (a lead byte followed by fewer continuation bytes than it needs, each in its allowed range).
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // The last lead byte decides: look at most 3 bytes back.
        for back in 1...min(3, max(n, 1)) where back <= n {
            let lead = bytes[n - back]
            if lead & 0xC0 == 0x80 { continue }  // continuation byte: keep looking for the lead
            let needed: Int
            switch lead {
            case 0xC2...0xDF: needed = 2
            case 0xE0...0xEF: needed = 3
            case 0xF0...0xF4: needed = 4
            default: return 0  // ASCII or a byte that never starts a sequence
            }
            guard back < needed else { return 0 }  // complete (or over-long: already decided)
            for k in 1..<back {
                let byte = bytes[n - back + k]
                let range: ClosedRange<UInt8> = k == 1 ? secondByteRange(lead) : 0x80...0xBF
                if !range.contains(byte) { return 0 }
            }
            return back
        }
        return 0
    }

    /// The second byte is restricted so that overlong forms, surrogates and values above
    /// U+10FFFF are rejected (Unicode Table 3-7).
    private static func secondByteRange(_ lead: UInt8) -> ClosedRange<UInt8> {
        switch lead {
        case 0xE0: 0xA0...0xBF
        case 0xED: 0x80...0x9F
        case 0xF0: 0x90...0xBF
        case 0xF4: 0x80...0x8F
        default: 0x80...0xBF
        }
    }
}
