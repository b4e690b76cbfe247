import TesseraModels
import Foundation
import TestSupport
import Testing
@testable import TesseraEngine

@Suite struct LogprobTests {
    /// log_softmax straight from the definition, in Double: the independent reference.
    private static func reference(_ logits: [Float]) -> [Double] {
        let values = logits.map(Double.init)
        let total = values.map { Foundation.exp($0) }.reduce(0, +)
        return values.map { $0 - Foundation.log(total) }
    }

    private static func logprobs(_ logits: [Float], token: Int, top: Int) -> TokenLogprob {
        logits.withUnsafeBufferPointer { Sampler.logprobs($0, token: token, top: top) }
    }

    @Test func matchesTheDefinitionWithOrderedTopAndTies() {
        let logits: [Float] = [1.5, -0.5, 3.0, 3.0, 0.25, -2, 2.0, 3.0]
        let expected = Self.reference(logits)
        let result = Self.logprobs(logits, token: 5, top: 4)
        // Token 5 is the least likely: reported although it is not among the top.
        #expect(result.token == 5)
        #expect(abs(Double(result.logprob) - expected[5]) < 1e-6)
        // Three equal logits: lower ids first; then the next largest.
        #expect(result.top.map(\.token) == [2, 3, 7, 6])
        for entry in result.top { #expect(abs(Double(entry.logprob) - expected[entry.token]) < 1e-6) }
        #expect(result.top[0].logprob == result.top[1].logprob && result.top[1].logprob == result.top[2].logprob)
    }

    @Test func topCountsAndTheChosenTokenInsideTheTop() {
        let logits: [Float] = [0.5, 2, -1]
        #expect(Self.logprobs(logits, token: 1, top: 0).top.isEmpty)
        let all = Self.logprobs(logits, token: 1, top: 20)
        #expect(all.top.map(\.token) == [1, 0, 2], "capped at the vocabulary size")
        #expect(all.logprob == all.top[0].logprob)
        let probability = all.top.map { Foundation.exp(Double($0.logprob)) }.reduce(0, +)
        #expect(abs(probability - 1) < 1e-6)
    }

    /// Large logits would overflow a naive exp; a long row of near-equal ones stresses the sum.
    @Test func numericallyStable() {
        let big = Self.logprobs([1000, 999, -1000], token: 1, top: 2)
        let expected = Self.reference([0, -1, -2000])  // softmax is shift-invariant
        #expect(abs(Double(big.logprob) - expected[1]) < 1e-6)
        #expect(abs(Double(big.top[0].logprob) - expected[0]) < 1e-6)

        var random = SeededRandom(seed: 5)
        let row = (0..<49_152).map { _ in Float(random.nextUnitFloat()) * 20 - 10 }
        let reference = Self.reference(row)
        let result = Self.logprobs(row, token: 123, top: 20)
        #expect(abs(Double(result.logprob) - reference[123]) < 1e-5)
        let order = reference.indices.sorted { reference[$0] > reference[$1] || (reference[$0] == reference[$1] && $0 < $1) }
        #expect(result.top.map(\.token) == Array(order.prefix(20)))
        for entry in result.top { #expect(abs(Double(entry.logprob) - reference[entry.token]) < 1e-5) }
    }

    @Test func validation() {
        #expect(throws: SamplingParamsError.invalid("logprobs", "21", "must be in 0...20")) {
            try SamplingParams(logprobs: 21).validate()
        }
        #expect(throws: SamplingParamsError.self) { try SamplingParams(logprobs: -1).validate() }
        #expect(throws: Never.self) {
            try SamplingParams(logprobs: 0).validate()
            try SamplingParams(logprobs: 20).validate()
            try SamplingParams().validate()
        }
    }

    /// Every output of a stream, in order.
    private static func outputs(_ stream: RequestStream) async throws -> [RequestOutput] {
        var all: [RequestOutput] = []
        for try await output in stream { all.append(output) }
        return all
    }

    /// Through the engine: one logprob per token (the last one too, which arrives with the final
    /// output), none unless asked, and sampling does not change what they are taken from.
    @Test func engineAlignsLogprobsWithTokens() async throws {
        let (engine, _) = try EngineModels.engine(try EngineModels.tinyLlama.get(), options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 4))
        defer { engine.shutdown() }
        let prompt = randomPrompt(9, seed: 3)
        let plain = try await Self.outputs(engine.submit(EngineRequest(id: "a", promptIDs: prompt, params: SamplingParams(maxTokens: 6, ignoreEOS: true))))
        #expect(plain.allSatisfy { $0.newLogprobs.isEmpty })

        let greedy = try await Self.outputs(engine.submit(EngineRequest(
            id: "b", promptIDs: prompt, params: SamplingParams(maxTokens: 6, ignoreEOS: true, logprobs: 3))))
        #expect(greedy.flatMap(\.newTokenIDs) == plain.flatMap(\.newTokenIDs))
        #expect(greedy.last?.isFinished == true && greedy.last?.newLogprobs.count == 1)
        for output in greedy {
            #expect(output.newLogprobs.map(\.token) == output.newTokenIDs)
            for entry in output.newLogprobs {
                #expect(entry.top.count == 3 && entry.top[0].token == entry.token && entry.top[0].logprob == entry.logprob)
            }
        }

        // Hot sampling picks unlikely tokens; their logprobs are still the raw distribution's,
        // so a token that is in the top list has the same value there.
        let hot = SamplingParams(temperature: 5, seed: 1, maxTokens: 12, ignoreEOS: true, logprobs: 2)
        let sampled = try await Self.outputs(engine.submit(EngineRequest(id: "c", promptIDs: prompt, params: hot)))
        let entries = sampled.flatMap(\.newLogprobs)
        #expect(entries.map(\.token) == sampled.flatMap(\.newTokenIDs) && entries.count == 12)
        #expect(entries.contains { entry in !entry.top.contains { $0.token == entry.token } }, "some sampled token outside the top 2")
        for entry in entries {
            #expect(entry.logprob <= entry.top[0].logprob)
            if let same = entry.top.first(where: { $0.token == entry.token }) { #expect(same.logprob == entry.logprob) }
        }
    }

    /// SmolLM2 greedy, top 5, against transformers' log_softmax (generation/smollm2_logprobs.json).
    @Test func smolLM2LogprobsEqualTransformers() async throws {
        let tolerance = 2e-3
        let loaded = try EngineModels.smol.get()
        let fixture = try #require(try Fixtures.json("generation/smollm2_logprobs.json") as? [String: Any])
        let results = try #require(fixture["results"] as? [[String: Any]])
        let top = try #require(fixture["top"] as? Int)
        #expect(results.count >= 2)
        let requests = try results.enumerated().map { i, result in
            let steps = try #require(result["steps"] as? [[String: Any]])
            return EngineRequest(id: "\(i)", promptIDs: try #require(result["prompt_ids"] as? [Int]),
                                 params: SamplingParams(maxTokens: steps.count, logprobs: top))
        }
        let (engine, _) = try EngineModels.engine(loaded.model, numBlocks: 64, blockSize: 16,
                                                  options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 8))
        defer { engine.shutdown() }
        let streams = try requests.map { try engine.submit($0) }
        for (stream, result) in zip(streams, results) {
            let steps = try #require(result["steps"] as? [[String: Any]])
            let outputs = try await Self.outputs(stream)
            let got = outputs.flatMap(\.newLogprobs)
            #expect(got.map(\.token) == outputs.flatMap(\.newTokenIDs))
            try #require(got.count == steps.count, "\(result["prompt"] ?? "")")
            for (entry, step) in zip(got, steps) {
                let ids = try #require(step["top_ids"] as? [Int])
                let values = try #require(step["top_logprobs"] as? [Double])
                let next = try #require(step["next_logprob"] as? Double)
                #expect(entry.token == step["token"] as? Int)
                let chosen = try #require(step["logprob"] as? Double)
                #expect(abs(Double(entry.logprob) - chosen) < tolerance, "token \(entry.token): \(entry.logprob) vs \(chosen)")
                #expect(entry.top.count == top)
                // A rank is only well defined where both neighbours are clearly apart.
                let bounds = [Double.infinity] + values + [next]
                for rank in 0..<top where bounds[rank] - bounds[rank + 1] > tolerance && bounds[rank + 1] - bounds[rank + 2] > tolerance {
                    #expect(entry.top[rank].token == ids[rank], "rank \(rank) at token \(entry.token)")
                }
                for (token, value) in zip(ids, values) {
                    if let mine = entry.top.first(where: { $0.token == token }) { #expect(abs(Double(mine.logprob) - value) < tolerance) }
                }
            }
        }
    }
}
