import Testing
import TesseraModels
@testable import TesseraEngine

/// The output processor alone, fed rows of logits that make the wanted token the greedy pick.
@Suite struct OutputProcessorTests {
    /// A row of `vocab` logits whose largest is at `token`.
    static func row(picking token: Int, vocab: Int) -> [Float] {
        var logits = [Float](repeating: 0, count: vocab)
        logits[token] = 10
        return logits
    }

    /// Feeds request `id` the tokens in turn; the outputs and whether each ended the request.
    static func feed(_ processor: inout OutputProcessor, _ id: String, _ tokens: [Int], vocab: Int)
        -> [(output: RequestOutput, stopped: Bool)] {
        tokens.map { token in
            let step = row(picking: token, vocab: vocab).withUnsafeBufferPointer { processor.next(id, logits: $0) }
            #expect(step.token == token && step.output.newTokenIDs == [token] && step.output.requestID == id)
            return (step.output, step.stopped)
        }
    }

    /// The model's EOS ends a request unless it ignores EOS; a request's own stop ids end it too.
    @Test func endTokens() throws {
        let config = try EngineModels.tinyLlama.get().config
        let eos = try #require(config.eosTokenIDs.first)
        var processor = OutputProcessor(tokenizer: nil, config: config)
        processor.add(EngineRequest(id: "plain", promptIDs: [5]))
        processor.add(EngineRequest(id: "ignoring", promptIDs: [5], params: SamplingParams(ignoreEOS: true)))
        processor.add(EngineRequest(id: "own", promptIDs: [5], stopTokenIDs: [7]))
        #expect(Self.feed(&processor, "plain", [9, eos], vocab: config.vocabSize).map(\.stopped) == [false, true])
        #expect(Self.feed(&processor, "ignoring", [eos, 7], vocab: config.vocabSize).map(\.stopped) == [false, false])
        #expect(Self.feed(&processor, "own", [9, 7], vocab: config.vocabSize).map(\.stopped) == [false, true])
        #expect(Self.feed(&processor, "plain", [9], vocab: config.vocabSize).allSatisfy { $0.output.newLogprobs.isEmpty })
        #expect(processor.finish("plain").isEmpty, "no tokenizer, no text")
    }

    /// Text is shown as it becomes safe: a possible start of a stop string is held back, the
    /// stop string itself is cut, and what `finish` returns completes the text of a request that
    /// ended without one.
    @Test func stopStringsAndHeldBackText() throws {
        let (model, tokenizer) = try EngineModels.smol.get()
        let vocab = model.config.vocabSize
        let tokens = tokenizer.encode(" The capital of France is Paris. It is big.")
        var processor = OutputProcessor(tokenizer: tokenizer, config: model.config)
        processor.add(EngineRequest(id: "cut", promptIDs: [5], params: SamplingParams(stop: ["Paris."])))
        processor.add(EngineRequest(id: "whole", promptIDs: [5], params: SamplingParams(stop: ["big.!"], logprobs: 2)))

        let cut = Self.feed(&processor, "cut", tokens, vocab: vocab)
        let stopAt = try #require(cut.firstIndex { $0.stopped })
        #expect(cut[...stopAt].map(\.output.newText).joined() == " The capital of France is ")
        #expect(processor.finish("cut").isEmpty, "nothing follows a stop string")

        let whole = Self.feed(&processor, "whole", tokens, vocab: vocab)
        #expect(whole.allSatisfy { !$0.stopped && $0.output.newLogprobs.map(\.top.count) == [2] })
        let shown = whole.map(\.output.newText).joined()
        #expect(shown == " The capital of France is Paris. It is ", "\"big.\" could still become \"big.!\"")
        #expect(shown + processor.finish("whole") == " The capital of France is Paris. It is big.")
    }

    /// Each request draws from its own seeded sampler, wherever its steps fall between others'.
    @Test func samplersBelongToTheirRequest() throws {
        let config = try EngineModels.tinyLlama.get().config
        let logits = (0..<config.vocabSize).map { Float($0 % 7) }
        let hot = SamplingParams(temperature: 2, seed: 11, ignoreEOS: true)
        func draws(_ processor: inout OutputProcessor, _ id: String, _ count: Int) -> [Int] {
            (0..<count).map { _ in logits.withUnsafeBufferPointer { processor.next(id, logits: $0).token } }
        }
        var alone = OutputProcessor(tokenizer: nil, config: config)
        alone.add(EngineRequest(id: "a", promptIDs: [5], params: hot))
        let expected = draws(&alone, "a", 12)
        #expect(Set(expected).count > 1, "a hot sampler draws different tokens")

        var shared = OutputProcessor(tokenizer: nil, config: config)
        shared.add(EngineRequest(id: "a", promptIDs: [5], params: hot))
        shared.add(EngineRequest(id: "b", promptIDs: [5], params: hot))
        var interleaved: [Int] = []
        for _ in 0..<4 {
            interleaved += draws(&shared, "a", 3)
            _ = draws(&shared, "b", 2)
        }
        #expect(interleaved == expected)
    }
}
