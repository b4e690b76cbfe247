import Testing
@testable import TesseraTokenizer

struct SplitCase: Sendable, CustomTestStringConvertible {
    var pattern: TokenizerSpec.PreTokenizer
    var text: String
    var words: [String]

    init(_ pattern: TokenizerSpec.PreTokenizer, _ text: String, _ words: [String]) {
        self.pattern = pattern
        self.text = text
        self.words = words
    }

    var testDescription: String { "\(pattern) \(String(reflecting: text))" }
}

/// Word splits compared with Hugging Face tokenizers' own pre-tokenizers (`Split(Regex(...),
/// "isolated")`, with `Digits(individual_digits=True)` first for SmolLM2): the expected words
/// below were produced by `pre_tokenize_str` on the same text.
@Suite struct PreTokenizerTests {
    static let cases: [SplitCase] = [
        SplitCase(.gpt2, "Hello  world", ["Hello", " ", " world"]),
        SplitCase(.gpt2, "x   \n\n  y", ["x", "   \n\n ", " y"]),
        SplitCase(.gpt2, "it'S 1234567 z", ["it", "'", "S", " 1234567", " z"]),
        SplitCase(.gpt2, "\tfoo  \n bar!!\n\n", ["\t", "foo", "  \n", " bar", "!!", "\n\n"]),
        SplitCase(.gpt2, "a\u{a0}\u{a0}b", ["a", "\u{a0}", "\u{a0}", "b"]),
        SplitCase(.gpt2, "'ſ ", ["'", "ſ", " "]),
        SplitCase(.gpt2, "  ", ["  "]),
        SplitCase(.gpt2, "$100,000.50 ok", ["$", "100", ",", "000", ".", "50", " ok"]),
        SplitCase(.gpt2, "end \n", ["end", " \n"]),
        SplitCase(.gpt2, "🙂🙂 x", ["🙂🙂", " x"]),
        SplitCase(.gpt2, "Ω١٢³ ⅫX", ["Ω", "١٢³", " Ⅻ", "X"]),
        SplitCase(.qwen2, "Hello  world", ["Hello", " ", " world"]),
        SplitCase(.qwen2, "x   \n\n  y", ["x", "   \n\n", " ", " y"]),
        SplitCase(.qwen2, "it'S 1234567 z", ["it", "'S", " ", "1", "2", "3", "4", "5", "6", "7", " z"]),
        SplitCase(.qwen2, "\tfoo  \n bar!!\n\n", ["\tfoo", "  \n", " bar", "!!\n\n"]),
        SplitCase(.qwen2, "a\u{a0}\u{a0}b", ["a", "\u{a0}", "\u{a0}b"]),
        SplitCase(.qwen2, "'ſ ", ["'ſ", " "]),
        SplitCase(.qwen2, "  ", ["  "]),
        SplitCase(.qwen2, "$100,000.50 ok", ["$", "1", "0", "0", ",", "0", "0", "0", ".", "5", "0", " ok"]),
        SplitCase(.qwen2, "end \n", ["end", " \n"]),
        SplitCase(.qwen2, "🙂🙂 x", ["🙂🙂", " x"]),
        SplitCase(.qwen2, "Ω١٢³ ⅫX", ["Ω", "١", "٢", "³", " ", "Ⅻ", "X"]),
        SplitCase(.llama3, "Hello  world", ["Hello", " ", " world"]),
        SplitCase(.llama3, "x   \n\n  y", ["x", "   \n\n", " ", " y"]),
        SplitCase(.llama3, "it'S 1234567 z", ["it", "'S", " ", "123", "456", "7", " z"]),
        SplitCase(.llama3, "\tfoo  \n bar!!\n\n", ["\tfoo", "  \n", " bar", "!!\n\n"]),
        SplitCase(.llama3, "a\u{a0}\u{a0}b", ["a", "\u{a0}", "\u{a0}b"]),
        SplitCase(.llama3, "'ſ ", ["'ſ", " "]),
        SplitCase(.llama3, "  ", ["  "]),
        SplitCase(.llama3, "$100,000.50 ok", ["$", "100", ",", "000", ".", "50", " ok"]),
        SplitCase(.llama3, "end \n", ["end", " \n"]),
        SplitCase(.llama3, "🙂🙂 x", ["🙂🙂", " x"]),
        SplitCase(.llama3, "Ω١٢³ ⅫX", ["Ω", "١٢³", " ", "Ⅻ", "X"]),
        SplitCase(.smollm, "Hello  world", ["Hello", " ", " world"]),
        SplitCase(.smollm, "x   \n\n  y", ["x", "   \n\n ", " y"]),
        SplitCase(.smollm, "it'S 1234567 z", ["it", "'", "S", " ", "1", "2", "3", "4", "5", "6", "7", " z"]),
        SplitCase(.smollm, "\tfoo  \n bar!!\n\n", ["\t", "foo", "  \n", " bar", "!!", "\n\n"]),
        SplitCase(.smollm, "a\u{a0}\u{a0}b", ["a", "\u{a0}", "\u{a0}", "b"]),
        SplitCase(.smollm, "'ſ ", ["'", "ſ", " "]),
        SplitCase(.smollm, "  ", ["  "]),
        SplitCase(.smollm, "$100,000.50 ok", ["$", "1", "0", "0", ",", "0", "0", "0", ".", "5", "0", " ok"]),
        SplitCase(.smollm, "end \n", ["end", " \n"]),
        SplitCase(.smollm, "🙂🙂 x", ["🙂🙂", " x"]),
        SplitCase(.smollm, "Ω١٢³ ⅫX", ["Ω", "١", "٢", "³", " ", "Ⅻ", "X"]),
    ]

    static func split(_ text: String, _ pattern: TokenizerSpec.PreTokenizer) -> [String] {
        var utf8 = Array(text.utf8)
        var scalars = ScalarBuffer()
        var ranges: [Range<Int>] = []
        utf8.withUnsafeMutableBufferPointer { buffer in
            scalars.load(UnsafeBufferPointer(buffer))
        }
        pattern.split(scalars, into: &ranges)
        return ranges.map { String(decoding: utf8[$0], as: UTF8.self) }
    }

    @Test(arguments: cases)
    func splitsLikeHuggingFace(_ c: SplitCase) {
        let words = Self.split(c.text, c.pattern)
        #expect(words.count == c.words.count && zip(words, c.words).allSatisfy { $0.utf8.elementsEqual($1.utf8) },
                "\(words.map { String(reflecting: $0) })")
    }

    /// The words always tile the text exactly, for every pattern.
    @Test(arguments: [TokenizerSpec.PreTokenizer.gpt2, .smollm, .qwen2, .llama3])
    func wordsCoverTheText(_ pattern: TokenizerSpec.PreTokenizer) {
        let text = "  mixed\t\tTEXT'LL 12345 ½ \r\n\r\n  🙂 a\u{301} 東京\u{3000}x\n"
        #expect(Self.split(text, pattern).joined().utf8.elementsEqual(text.utf8))
    }

    @Test func classifiesScalars() {
        #expect(ScalarClass.of("a").contains(.letter))
        #expect(ScalarClass.of("東").contains(.letter))
        #expect(ScalarClass.of("٣").contains(.number))   // Arabic-Indic digit (Nd)
        #expect(ScalarClass.of("Ⅻ").contains(.number))   // Roman numeral (Nl)
        #expect(ScalarClass.of("½").contains(.number))   // vulgar fraction (No)
        #expect(ScalarClass.of("\u{A0}").contains(.whitespace))
        #expect(ScalarClass.of("\u{3000}").contains(.whitespace))
        #expect(!ScalarClass.of("\u{200B}").contains(.whitespace))  // zero-width space is Cf, not \s
        #expect(ScalarClass.of("\u{301}").isOther)      // combining mark
        #expect(ScalarClass.of("\r").contains([.whitespace, .lineBreak]))
        #expect(ScalarClass.of(" ").contains([.whitespace, .space]))
    }
}
