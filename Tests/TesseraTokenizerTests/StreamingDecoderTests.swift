import Testing
@testable import TesseraTokenizer

@Suite struct StreamingDecoderTests {
    /// Feeds ids one at a time; checks that no chunk carries a replacement character the full
    /// decode does not have, and that the chunks add up to `decode(ids)` byte for byte.
    static func stream(_ tokenizer: Tokenizer, _ ids: [Int]) -> [String] {
        var decoder = tokenizer.makeStreamingDecoder()
        var chunks = ids.map { decoder.append($0) }
        chunks.append(decoder.finish())
        return chunks
    }

    @Test(arguments: ["👍🏽 thumbs up", "中文分词测试 日本語のテキスト 한국어", "👨‍👩‍👧‍👦🇫🇷 ✈️ café", "plain ascii"])
    func neverEmitsHalfACharacter(_ text: String) throws {
        let tokenizer = try TinyQwen.get()
        let ids = tokenizer.encode(text)
        #expect(ids.count > 1)
        let chunks = Self.stream(tokenizer, ids)
        for chunk in chunks {
            #expect(!chunk.unicodeScalars.contains("\u{FFFD}"), "chunk \(String(reflecting: chunk))")
        }
        #expect(chunks.joined().utf8.elementsEqual(text.utf8))
        #expect(chunks.joined().utf8.elementsEqual(tokenizer.decode(ids).utf8))
    }

    @Test func holdsBackAnUnfinishedCharacterUntilItCompletes() throws {
        let tokenizer = try TinyQwen.get()
        let byteIDs = tokenizer.model.byteTokens.map(Int.init)
        var decoder = tokenizer.makeStreamingDecoder()
        // 😀 = F0 9F 98 80, fed one byte-token at a time after "a".
        #expect(decoder.append(byteIDs[0x61]) == "a")
        #expect(decoder.append(byteIDs[0xF0]) == "")
        #expect(decoder.append(byteIDs[0x9F]) == "")
        #expect(decoder.append(byteIDs[0x98]) == "")
        #expect(decoder.append(byteIDs[0x80]) == "😀")
        #expect(decoder.finish() == "")
    }

    @Test func invalidBytesBecomeReplacementCharactersWhereDecodeWouldPutThem() throws {
        let tokenizer = try TinyQwen.get()
        let byteIDs = tokenizer.model.byteTokens.map(Int.init)
        // E2 82 41: a truncated 3-byte sequence followed by "A"; F0 9F 98 left unfinished at the end.
        let ids = [0xE2, 0x82, 0x41, 0xF0, 0x9F, 0x98].map { byteIDs[$0] }
        let chunks = Self.stream(tokenizer, ids)
        #expect(chunks == ["", "", "\u{FFFD}A", "", "", "", "\u{FFFD}"])
        #expect(chunks.joined() == tokenizer.decode(ids))
    }

    @Test func specialTokensStreamAsTextOrAreSkipped() throws {
        let tokenizer = try TinyQwen.get()
        let ids = tokenizer.encode("<|im_start|>user\nhi 👍<|im_end|>")
        #expect(Self.stream(tokenizer, ids).joined() == "<|im_start|>user\nhi 👍<|im_end|>")
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var text = ids.map { decoder.append($0) }.joined()
        text += decoder.finish()
        #expect(text == "user\nhi 👍")
        #expect(text == tokenizer.decode(ids, skipSpecialTokens: true))
    }

    /// Every corpus string streams to exactly its full decode.
    @Test(arguments: TinyQwenParityTests.corpus)
    func corpusStreamsToItsDecode(_ entry: CorpusEntry) throws {
        let tokenizer = try TinyQwen.get()
        #expect(Self.stream(tokenizer, entry.ids).joined().utf8.elementsEqual(entry.decoded.utf8))
    }

    @Test func incompleteSuffixLengths() {
        let cases: [([UInt8], Int)] = [
            ([], 0), ([0x41], 0), ([0xC3], 1), ([0x41, 0xC3], 1), ([0xC3, 0xA9], 0),
            ([0xE4, 0xB8], 2), ([0xE4, 0xB8, 0xAD], 0), ([0xF0, 0x9F], 2), ([0xF0, 0x9F, 0x98], 3),
            ([0xF0, 0x9F, 0x98, 0x80], 0),
            ([0xE0, 0x80], 0),   // overlong: E0 needs A0...BF next
            ([0xED, 0xA0], 0),   // surrogate: ED needs 80...9F next
            ([0xF0, 0x8F], 0),   // overlong 4-byte
            ([0xF4, 0x90], 0),   // above U+10FFFF
            ([0xF5], 0), ([0xC0], 0), ([0x80], 0), ([0xFF], 0),
            ([0xE4, 0x41], 0),   // lead byte already broken by ASCII
        ]
        for (bytes, expected) in cases {
            #expect(StreamingDecoder.incompleteSuffixLength(bytes) == expected, "\(bytes)")
        }
    }
}
