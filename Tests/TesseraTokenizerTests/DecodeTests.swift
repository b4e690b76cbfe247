import Testing
@testable import TesseraTokenizer

@Suite struct DecodeTests {
    /// Invalid UTF-8 is replaced the way Rust's `from_utf8_lossy` (used by Hugging Face) and
    /// Python's `bytes.decode("utf-8", "replace")` do: one U+FFFD per maximal invalid subpart.
    @Test func replacementFollowsTheMaximalSubpartRule() throws {
        let tokenizer = try TinyQwen.get()
        let byteIDs = tokenizer.model.byteTokens.map(Int.init)
        let bytes: [Int] = [0xE2, 0x82, 0x41, 0xF0, 0x9F, 0x98, 0xFF, 0xC0, 0xAF, 0xED, 0xA0, 0x80]
        // Python: b'\xe2\x82A\xf0\x9f\x98\xff\xc0\xaf\xed\xa0\x80'.decode('utf-8', 'replace')
        let expected = "\u{FFFD}A" + String(repeating: "\u{FFFD}", count: 7)
        #expect(tokenizer.decode(bytes.map { byteIDs[$0] }) == expected)
    }

    @Test func skipsSpecialTokensOnlyWhenAsked() throws {
        let tokenizer = try TinyQwen.get()
        let ids = tokenizer.encode("<|im_start|>user\nhi<|im_end|>")
        #expect(ids.first == 1 && ids.last == 2)
        #expect(tokenizer.decode(ids) == "<|im_start|>user\nhi<|im_end|>")
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "user\nhi")
    }

    @Test func ignoresUnknownIDs() throws {
        let tokenizer = try TinyQwen.get()
        let hi = tokenizer.encode("hi")
        #expect(tokenizer.decode([-1] + hi + [1_000_000]) == "hi")
        #expect(tokenizer.tokenString(-1) == nil)
        #expect(tokenizer.tokenString(1) == "<|im_start|>")
    }

    @Test func tokenStringsUseTheByteLevelAlphabet() throws {
        let tokenizer = try TinyQwen.get()
        let ids = tokenizer.encode(" the")
        #expect(ids.map { tokenizer.tokenString($0)! }.joined() == "Ġthe")
        #expect(tokenizer.tokenID("<|im_end|>") == 2)
    }

    @Test func byteLevelTableIsABijection() {
        let scalars = ByteLevel.scalarForByte
        #expect(Set(scalars).count == 256)
        #expect(scalars[0x20] == "Ġ" && scalars[0x0A] == "Ċ" && scalars[0x41] == "A" && scalars[0xAD] == "Ń")
        for byte in 0..<256 { #expect(ByteLevel.byte(for: scalars[byte]) == UInt8(byte)) }
        #expect(ByteLevel.bytes(ofToken: "Ġhello") == Array(" hello".utf8))
        // A token with a character outside the table (a plain space) is taken as its own UTF-8.
        #expect(ByteLevel.bytes(ofToken: "hello world") == Array("hello world".utf8))
    }
}
