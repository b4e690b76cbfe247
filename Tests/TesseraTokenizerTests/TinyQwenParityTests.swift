import Foundation
import TestSupport
import Testing
@testable import TesseraTokenizer

/// The tiny Qwen2-pattern tokenizer loaded from tokenizer.json must agree with transformers.
@Suite struct TinyQwenParityTests {
    static let corpus = (try? CorpusEntry.load("tokenizer/tiny_qwen_corpus.json")) ?? []
    static let chats = (try? ChatCase.load("tokenizer/tiny_qwen_chat.json")) ?? []

    @Test func fixturesArePresent() throws {
        _ = try CorpusEntry.load("tokenizer/tiny_qwen_corpus.json")
        #expect(Self.corpus.count >= 60)
        #expect(Self.chats.count >= 7)
    }

    @Test func loadsTheFolder() throws {
        let tokenizer = try TinyQwen.get()
        #expect(tokenizer.vocabularySize == 1000)
        #expect(tokenizer.spec.preTokenizer == .qwen2)
        #expect(tokenizer.bosTokenID == nil)
        #expect(tokenizer.eosTokenID == 2)
        #expect(tokenizer.spec.addBOS == false)
        #expect(tokenizer.hasChatTemplate)
        #expect(tokenizer.isSpecialToken(0) && tokenizer.isSpecialToken(1) && tokenizer.isSpecialToken(2))
    }

    @Test(arguments: corpus)
    func idsMatchTransformers(_ entry: CorpusEntry) throws {
        let tokenizer = try TinyQwen.get()
        #expect(tokenizer.encode(entry.text) == entry.ids)
        #expect(tokenizer.encode(entry.text, addSpecialTokens: false) == entry.ids)
    }

    @Test(arguments: corpus)
    func decodeMatchesTransformersAndRoundTrips(_ entry: CorpusEntry) throws {
        let tokenizer = try TinyQwen.get()
        #expect(sameBytes(tokenizer.decode(entry.ids), entry.decoded))
        #expect(sameBytes(tokenizer.decode(tokenizer.encode(entry.text)), entry.text))
    }

    @Test(arguments: chats)
    func chatTemplateMatchesTransformers(_ chat: ChatCase) throws {
        let tokenizer = try TinyQwen.get()
        let text = try tokenizer.applyChatTemplate(chat.messages, addGenerationPrompt: chat.addGenerationPrompt)
        #expect(sameBytes(text, chat.text))
        let ids = try tokenizer.encodeChat(chat.messages, addGenerationPrompt: chat.addGenerationPrompt)
        if let expected = chat.ids { #expect(ids == expected) }
        #expect(sameBytes(tokenizer.decode(ids), chat.text))
    }
}

extension TinyQwenParityTests {
    /// One tokenizer shared by concurrent tasks (the word cache is the only shared state).
    @Test func concurrentEncodingAgrees() async throws {
        let tokenizer = try TinyQwen.get()
        let corpus = Self.corpus
        let results = await withTaskGroup(of: Bool.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var ok = true
                    for round in 0..<20 {
                        for (i, entry) in corpus.enumerated() where (i + round + worker) % 3 == 0 {
                            ok = ok && tokenizer.encode(entry.text) == entry.ids
                        }
                    }
                    return ok
                }
            }
            var all: [Bool] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results == [true, true, true, true])
    }
}
