import Foundation
import Testing
import TestSupport
import TesseraTokenizer

/// The reference data `scripts/make_fixtures.py` recorded with transformers.
struct CorpusEntry: Sendable, CustomTestStringConvertible {
    var text: String
    var ids: [Int]
    var decoded: String

    var testDescription: String { String(reflecting: text) }

    static func load(_ relativePath: String) throws -> [CorpusEntry] {
        let root = try #require(try Fixtures.json(relativePath) as? [String: Any])
        let entries = try #require(root["entries"] as? [[String: Any]])
        return try entries.map { entry in
            CorpusEntry(
                text: try #require(entry["text"] as? String),
                ids: try #require(entry["ids"] as? [Int]),
                decoded: try #require(entry["decoded"] as? String))
        }
    }
}

struct ChatCase: Sendable, CustomTestStringConvertible {
    var messages: [ChatMessage]
    var addGenerationPrompt: Bool
    var text: String
    var ids: [Int]?

    var testDescription: String { "\(messages.count) messages, add_generation_prompt=\(addGenerationPrompt)" }

    static func load(_ relativePath: String) throws -> [ChatCase] {
        let root = try #require(try Fixtures.json(relativePath) as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        return try cases.map { item in
            let messages = try #require(item["messages"] as? [[String: String]])
            return ChatCase(
                messages: try messages.map { ChatMessage(role: try #require($0["role"]), content: try #require($0["content"])) },
                addGenerationPrompt: try #require(item["add_generation_prompt"] as? Bool),
                text: try #require(item["text"] as? String),
                ids: item["ids"] as? [Int])
        }
    }
}

enum TinyQwen {
    /// Built once: the tiny byte-level BPE with the Qwen2 split pattern.
    static let tokenizer: Result<Tokenizer, any Error> = Result {
        try Tokenizer(
            tokenizerJSON: Fixtures.url("tokenizer/tiny_qwen/tokenizer.json"),
            tokenizerConfig: Fixtures.url("tokenizer/tiny_qwen/tokenizer_config.json"))
    }

    static func get() throws -> Tokenizer { try tokenizer.get() }
}

/// Byte-exact string comparison (`==` on String is canonical equivalence).
func sameBytes(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8)
}
