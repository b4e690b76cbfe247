import Foundation
import TesseraModels
import TesseraTokenizer

/// The tokenizer's `encode` on ~400 KB of mixed text (English words, numbers, code, non-Latin
/// scripts, emoji, whitespace runs): with a cold word cache (a new tokenizer each run) and warm
/// (the same text again through the same tokenizer).
enum EncodeSpeed {
    static func run(model url: URL, runs: Int, bytes: Int = 400_000) throws {
        let files = try ModelFiles.open(url)
        guard let spec = files.tokenizerSpec else { throw MicroBenchError.noTokenizer(url.path) }
        let text = mixedText(bytes: bytes)
        let megabytes = Double(text.utf8.count) / 1e6
        let tokens = try Tokenizer(spec: spec).encode(text).count
        print("encode, \(url.lastPathComponent)'s tokenizer: \(text.utf8.count) bytes of mixed text -> \(tokens) tokens")
        let cold = try Figures.measure(runs: runs, prepare: { try Tokenizer(spec: spec) }) { tokenizer in
            _ = tokenizer.encode(text)
        }
        print(cold.line("  cold word cache", amount: megabytes, unit: "MB"))
        let tokenizer = try Tokenizer(spec: spec)
        let warm = Figures.measure(runs: runs, prepare: { tokenizer }) { tokenizer in
            _ = tokenizer.encode(text)
        }
        print(warm.line("  warm word cache", amount: megabytes, unit: "MB"))
    }

    /// Seeded, so every run and every machine encodes the same text.
    static func mixedText(bytes: Int) -> String {
        var random = SeededRandom(seed: 42)
        let words = ["the", "of", "and", "tokenizer", "inference", "engine", "context", "parallel", "cache",
                     "Zürich", "naïve", "中文", "日本語", "Привет", "😀", "x_1", "self.value", "42", "3.14159",
                     "don't", "it's", "(a+b)", "{\"k\": [1, 2]}", "\n", "\n\n", "    ", "\t"]
        var text = ""
        while text.utf8.count < bytes {
            text += words[Int(random.next() % UInt64(words.count))]
            text += random.next() % 5 == 0 ? String(random.next() % 100_000) + " " : " "
        }
        return text
    }
}
