import Testing
@testable import TesseraTokenizer

@Suite struct BPETests {
    /// A hand-made vocabulary: merges apply by rank, leftmost first among equal ranks.
    static func toyTokenizer(_ merges: [String], extra: [String] = []) throws -> Tokenizer {
        var tokens = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        for merge in merges { tokens.append(merge.replacingOccurrences(of: " ", with: "")) }
        tokens += extra
        return try Tokenizer(spec: TokenizerSpec(
            tokens: tokens, merges: merges, specialTokenIDs: [], preTokenizer: .gpt2,
            bosTokenID: nil, eosTokenID: nil, addBOS: false, chatTemplate: nil))
    }

    @Test func appliesMergesByRank() throws {
        let tokenizer = try Self.toyTokenizer(["a b", "b c", "ab c"])
        // "abc": "a b" (rank 0) wins over "b c" (rank 1), then "ab c".
        #expect(tokenizer.encode("abc").map { tokenizer.tokenString($0)! } == ["abc"])
        let reversed = try Self.toyTokenizer(["b c", "a b", "ab c"])
        #expect(reversed.encode("abc").map { reversed.tokenString($0)! } == ["a", "bc"])
    }

    @Test func equalRanksMergeLeftmostFirst() throws {
        let tokenizer = try Self.toyTokenizer(["a a"])
        #expect(tokenizer.encode("aaa").map { tokenizer.tokenString($0)! } == ["aa", "a"])
        #expect(tokenizer.encode("aaaa").map { tokenizer.tokenString($0)! } == ["aa", "aa"])
    }

    @Test func rejectsMergesOfUnknownTokens() {
        #expect(throws: TokenizerError.self) {
            try Tokenizer(spec: TokenizerSpec(
                tokens: ["a", "b"], merges: ["a b"], specialTokenIDs: [], preTokenizer: .gpt2,
                bosTokenID: nil, eosTokenID: nil, addBOS: false, chatTemplate: nil))
        }
        #expect(throws: TokenizerError.invalidSpec("merge 0 (\"ab\") is not two tokens separated by one space")) {
            try Tokenizer(spec: TokenizerSpec(
                tokens: ["a", "b", "ab"], merges: ["ab"], specialTokenIDs: [], preTokenizer: .gpt2,
                bosTokenID: nil, eosTokenID: nil, addBOS: false, chatTemplate: nil))
        }
    }

    /// The linear scan (short words) and the heap (long words) must merge identically.
    @Test func scanAndHeapAgree() throws {
        let tokenizer = try TinyQwen.get()
        let model = tokenizer.model
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("the quick brown fox jumps over lazy dogs, 1234 éü中文😀\n".utf8)
        for length in [2, 3, 5, 8, 13, 40, 48, 49, 100, 300] {
            for _ in 0..<50 {
                let word = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
                var scanned = word.map { model.byteTokens[Int($0)] }
                var heaped = scanned
                model.mergeByScanning(&scanned)
                model.mergeWithHeap(&heaped)
                #expect(scanned == heaped, "\(word)")
            }
        }
    }

    @Test func longWordsRoundTrip() throws {
        let tokenizer = try TinyQwen.get()
        for text in [String(repeating: "a", count: 10_000), String(repeating: "ab", count: 5_000),
                     String(repeating: "中", count: 2_000), String(repeating: " ", count: 3_000) + "x"] {
            #expect(tokenizer.decode(tokenizer.encode(text)) == text)
        }
    }

    @Test func addedTokensMatchLongestFirst() throws {
        var spec = TokenizerSpec(
            tokens: (0..<256).map { String(ByteLevel.scalarForByte[$0]) } + ["<a>", "<a><b>", "<b>"],
            merges: [], specialTokenIDs: [256, 257], addedTokenIDs: [258], preTokenizer: .gpt2,
            bosTokenID: 256, eosTokenID: nil, addBOS: true, chatTemplate: nil)
        let tokenizer = try Tokenizer(spec: spec)
        #expect(tokenizer.encode("x<a><b><b><a>", addSpecialTokens: false) == [Int(UInt8(ascii: "x")), 257, 258, 256])
        #expect(tokenizer.encode("<b>") == [256, 258])  // BOS prepended
        #expect(tokenizer.decode([256, 258], skipSpecialTokens: true) == "<b>")  // added, not special: kept
        spec.addBOS = false
        spec.addEOS = true
        spec.eosTokenID = 257
        #expect(try Tokenizer(spec: spec).encode("<b>") == [258, 257])
    }
}
