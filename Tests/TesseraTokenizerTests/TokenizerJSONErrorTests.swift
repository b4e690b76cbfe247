import Foundation
import TestSupport
import Testing
@testable import TesseraTokenizer

/// Malformed or unsupported tokenizer files fail with an error naming the file and the field.
@Suite struct TokenizerJSONErrorTests {
    /// The tiny Qwen tokenizer.json, edited by `change`, written to a temporary file.
    static func variant(_ change: (inout [String: Any]) -> Void) throws -> URL {
        let original = try Data(contentsOf: Fixtures.url("tokenizer/tiny_qwen/tokenizer.json"))
        var json = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
        change(&json)
        return try write(JSONSerialization.data(withJSONObject: json))
    }

    static func write(_ data: Data, name: String = "tokenizer.json") throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// Loads and returns the (file, field, problem) of the expected `invalidFile` error.
    static func failure(_ url: URL, config: URL? = nil) throws -> (file: String, field: String, problem: String) {
        do {
            _ = try Tokenizer(tokenizerJSON: url, tokenizerConfig: config)
        } catch TokenizerError.invalidFile(let file, let field, let problem) {
            return (file, field, problem)
        }
        Issue.record("loading succeeded")
        return ("", "", "")
    }

    static func edit(_ json: inout [String: Any], _ key: String, _ change: (inout [String: Any]) -> Void) {
        var object = json[key] as! [String: Any]
        change(&object)
        json[key] = object
    }

    @Test func notJSON() throws {
        let url = try Self.write(Data("{ not json".utf8))
        let error = try Self.failure(url)
        #expect(error.file == url.path)
        #expect(error.field == "(file)")
        #expect(error.problem.contains("not valid JSON"))
    }

    @Test func missingFile() throws {
        let error = try Self.failure(URL(fileURLWithPath: "/nonexistent/tokenizer.json"))
        #expect(error.file == "/nonexistent/tokenizer.json")
        #expect(error.problem.contains("cannot be read"))
    }

    @Test func missingModel() throws {
        let error = try Self.failure(try Self.variant { $0["model"] = nil })
        #expect(error.field == "model")
        #expect(error.problem == "is missing")
    }

    @Test func unsupportedModelType() throws {
        let error = try Self.failure(try Self.variant { Self.edit(&$0, "model") { $0["type"] = "WordPiece" } })
        #expect(error.field == "model.type")
        #expect(error.problem.contains("WordPiece"))
    }

    @Test func unrecognisedPreTokenizer() throws {
        let error = try Self.failure(try Self.variant { $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁"] })
        #expect(error.field == "pre_tokenizer")
        #expect(error.problem.contains("Metaspace"))
    }

    @Test func unrecognisedSplitPattern() throws {
        let error = try Self.failure(try Self.variant {
            $0["pre_tokenizer"] = [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": "\\w+|\\s+"], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
                ],
            ]
        })
        #expect(error.field == "pre_tokenizer.pretokenizers[0].pattern.Regex")
        #expect(error.problem.contains("\\w+|\\s+"))
    }

    @Test func unsupportedNormalizerAndDecoder() throws {
        let normalizer = try Self.failure(try Self.variant { $0["normalizer"] = ["type": "Lowercase"] })
        #expect(normalizer.field == "normalizer")
        #expect(normalizer.problem.contains("Lowercase"))
        let decoder = try Self.failure(try Self.variant { $0["decoder"] = ["type": "WordPiece", "prefix": "##"] })
        #expect(decoder.field == "decoder")
    }

    @Test func mergeOfUnknownToken() throws {
        let error = try Self.failure(try Self.variant { Self.edit(&$0, "model") { $0["merges"] = [["Ġ", "Ġ"], ["zzq", "xx"]] } })
        #expect(error.field == "model")
        #expect(error.problem.contains("merge 1"))
        #expect(error.problem.contains("zzq"))
    }

    @Test func malformedMergeEntry() throws {
        let error = try Self.failure(try Self.variant { Self.edit(&$0, "model") { $0["merges"] = [["Ġ", "Ġ"], 42] } })
        #expect(error.field == "model.merges[1]")
    }

    @Test func holeInTheVocabulary() throws {
        let error = try Self.failure(try Self.variant {
            Self.edit(&$0, "model") { model in
                var vocab = model["vocab"] as! [String: Any]
                let victim = vocab.first { ($0.value as? Int) == 500 }!.key
                vocab[victim] = nil
                model["vocab"] = vocab
            }
        })
        #expect(error.field == "model.vocab")
        #expect(error.problem.contains("500"))
    }

    @Test func unsupportedAddedTokenFlag() throws {
        let error = try Self.failure(try Self.variant { json in
            var tokens = json["added_tokens"] as! [[String: Any]]
            tokens[1]["lstrip"] = true
            json["added_tokens"] = tokens
        })
        #expect(error.field == "added_tokens[1].lstrip")
    }

    @Test func configWithUnknownSpecialToken() throws {
        let url = Fixtures.url("tokenizer/tiny_qwen/tokenizer.json")
        let config = try Self.write(Data(#"{"eos_token": "<|not_a_token|>"}"#.utf8), name: "tokenizer_config.json")
        let error = try Self.failure(url, config: config)
        #expect(error.file == config.path)
        #expect(error.field == "eos_token")
        #expect(error.problem.contains("<|not_a_token|>"))
    }

    @Test func configWithoutDefaultTemplate() throws {
        let url = Fixtures.url("tokenizer/tiny_qwen/tokenizer.json")
        let config = try Self.write(Data(#"{"chat_template": [{"name": "tool_use", "template": "x"}]}"#.utf8),
                                    name: "tokenizer_config.json")
        let error = try Self.failure(url, config: config)
        #expect(error.field == "chat_template")
        #expect(error.problem.contains("tool_use"))
    }

    @Test func namedTemplatesPickDefaultAndBOSIsAdded() throws {
        let url = Fixtures.url("tokenizer/tiny_qwen/tokenizer.json")
        let config = try Self.write(Data(#"""
            {"bos_token": {"content": "<|im_start|>"}, "eos_token": "<|im_end|>", "add_bos_token": true,
             "chat_template": [{"name": "rag", "template": "R"}, {"name": "default", "template": "{{ bos_token }}D"}]}
            """#.utf8), name: "tokenizer_config.json")
        let tokenizer = try Tokenizer(tokenizerJSON: url, tokenizerConfig: config)
        #expect(tokenizer.bosTokenID == 1)
        #expect(tokenizer.encode("hi").first == 1)
        #expect(tokenizer.encode("hi", addSpecialTokens: false).first != 1)
        #expect(try tokenizer.applyChatTemplate([], addGenerationPrompt: false) == "<|im_start|>D")
    }

    @Test func describesErrorsWithFileAndField() {
        let error = TokenizerError.invalidFile(file: "/m/tokenizer.json", field: "model.type", problem: "\"Unigram\" is not supported")
        #expect(error.description == "/m/tokenizer.json: model.type: \"Unigram\" is not supported")
    }
}
