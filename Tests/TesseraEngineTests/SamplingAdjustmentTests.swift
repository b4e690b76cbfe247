import Foundation
import Testing
import TesseraModels
@testable import TesseraEngine

/// Logit bias, the presence / frequency / repetition penalties, min-p and stop token ids,
/// checked against values worked out by hand.
@Suite struct SamplingAdjustmentTests {
    /// Draws `tokens` in turn through a sampler (each made the greedy pick with a row that puts
    /// 50 on it), so the sampler has counted them; returns the sampler.
    private func sampler(_ params: SamplingParams, prompt: [Int] = [], after tokens: [Int], vocab: Int) -> Sampler {
        var sampler = Sampler(params: params, promptTokenIDs: prompt)
        for token in tokens {
            var row = [Float](repeating: 0, count: vocab)
            row[token] = 50
            let drawn = row.withUnsafeBufferPointer { sampler.sample($0) }
            #expect(drawn == token)
        }
        return sampler
    }

    private func adjusted(_ sampler: Sampler, _ logits: [Float]) -> [Float] {
        logits.withUnsafeBufferPointer { sampler.adjust($0) }
    }

    @Test func presenceAndFrequencyPenaltiesFollowOpenAIsFormula() {
        // Output so far: 1, 1, 1, 3. logit[t] -= presence * (count > 0) + frequency * count.
        let params = SamplingParams(presencePenalty: 0.5, frequencyPenalty: 0.25)
        let s = sampler(params, prompt: [0, 2], after: [1, 1, 1, 3], vocab: 5)
        #expect(s.outputCounts == [1: 3, 3: 1])
        let logits: [Float] = [1, 2, 3, -1, 0.5]
        // Prompt tokens 0 and 2 are not penalised: these penalties read the output only.
        #expect(adjusted(s, logits) == [1, 2 - 0.5 - 0.75, 3, -1 - 0.5 - 0.25, 0.5])

        // Negative values encourage repeats.
        let encouraging = sampler(SamplingParams(presencePenalty: -1, frequencyPenalty: -0.5), after: [2, 2], vocab: 3)
        #expect(adjusted(encouraging, [0, 0, 0]) == [0, 0, 2])
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfPromptAndOutput() {
        let s = sampler(SamplingParams(repetitionPenalty: 2), prompt: [0, 3], after: [1], vocab: 5)
        // Tokens 0, 3 (prompt) and 1 (output) are penalised once each, however often they occur.
        #expect(adjusted(s, [4, -3, 5, 0.5, 7]) == [2, -6, 5, 0.25, 7])
        // Below 1 it rewards them instead.
        let rewarding = sampler(SamplingParams(repetitionPenalty: 0.5), prompt: [0], after: [], vocab: 2)
        #expect(adjusted(rewarding, [4, 4]) == [8, 4])
    }

    @Test func penaltiesChangeTheGreedyPick() {
        // Token 0 leads by 1: a frequency penalty of 0.6 lets token 1 win after two 0s, not one.
        let logits: [Float] = [3, 2, 0]
        var greedy = Sampler(params: SamplingParams(frequencyPenalty: 0.6))
        let picks = (0..<4).map { _ in logits.withUnsafeBufferPointer { greedy.sample($0) } }
        // counts: {} -> 0; {0:1} -> 2.4 vs 2 -> 0; {0:2} -> 1.8 vs 2 -> 1; {0:2,1:1} -> 1.8 vs 1.4 -> 0.
        #expect(picks == [0, 0, 1, 0])

        // Repetition penalty 1.6 on the prompt's token 0: 3 / 1.6 = 1.875 < 2, token 1 wins at once.
        var repeating = Sampler(params: SamplingParams(repetitionPenalty: 1.6), promptTokenIDs: [0])
        #expect(logits.withUnsafeBufferPointer { repeating.sample($0) } == 1)
        // Without the prompt token, token 0 wins the first draw.
        var fresh = Sampler(params: SamplingParams(repetitionPenalty: 1.6))
        #expect(logits.withUnsafeBufferPointer { fresh.sample($0) } == 0)
    }

    @Test func logitBiasIsAddedBeforeGreedyAndSampledPicks() {
        let logits: [Float] = [5, 4, 3, 2]
        // -100 on the favourite: greedy takes the next one; sampling never draws it.
        let banned = SamplingParams(logitBias: [0: -100])
        var greedy = Sampler(params: banned)
        #expect(logits.withUnsafeBufferPointer { greedy.sample($0) } == 1)
        var hot = Sampler(params: SamplingParams(temperature: 2, seed: 4, logitBias: [0: -100]))
        let drawn = (0..<3000).map { _ in logits.withUnsafeBufferPointer { hot.sample($0) } }
        #expect(!drawn.contains(0))
        #expect(Set(drawn) == [1, 2, 3])
        // +100 forces the least likely token, sampled too.
        var forced = Sampler(params: SamplingParams(temperature: 1, seed: 4, logitBias: [3: 100]))
        #expect((0..<500).allSatisfy { _ in logits.withUnsafeBufferPointer { forced.sample($0) } == 3 })
        // Bias first, then the penalties (vLLM's order): 2 + 1 = 3 > 0, so it is divided: 1.5.
        let both = sampler(SamplingParams(repetitionPenalty: 2, logitBias: [0: 1]), prompt: [0], after: [], vocab: 2)
        #expect(adjusted(both, [2, 0]) == [1.5, 0])
    }

    @Test func minPDropsTokensBelowItsShareOfTheLikeliest() {
        // Probabilities 0.5, 0.3, 0.15, 0.05: min-p 0.5 keeps those >= 0.25, i.e. 0 and 1,
        // renormalised to 0.625 / 0.375.
        var candidates: [(token: Int, value: Float)] = [(0, 0.5), (1, 0.3), (2, 0.15), (3, 0.05)]
        Sampler.minP(&candidates, minP: 0.5)
        #expect(candidates.map(\.token) == [0, 1])
        #expect(abs(candidates[0].value - 0.625) < 1e-6 && abs(candidates[1].value - 0.375) < 1e-6)

        let logits = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        var s = Sampler(params: SamplingParams(temperature: 1, seed: 11, minP: 0.5))
        let drawn = (0..<4000).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } }
        #expect(Set(drawn) == [0, 1])
        let share = Double(drawn.filter { $0 == 0 }.count) / Double(drawn.count)
        #expect(abs(share - 0.625) < 0.03)
        // After temperature: at T = 0.5 the probabilities go as p^2 (0.25, 0.09, ...): 0.09 / 0.25
        // = 0.36 < 0.5, so only token 0 is left.
        var cold = Sampler(params: SamplingParams(temperature: 0.5, seed: 11, minP: 0.5))
        #expect((0..<500).allSatisfy { _ in logits.withUnsafeBufferPointer { cold.sample($0) } == 0 })
        // 0 keeps everything.
        var all: [(token: Int, value: Float)] = [(0, 0.9), (1, 0.1)]
        Sampler.minP(&all, minP: 0)
        #expect(all.count == 2)
    }

    @Test func seededRunsWithPenaltiesRepeat() {
        let logits = (0..<40).map { Float($0 % 9) * 0.4 }
        let params = SamplingParams(
            temperature: 0.9, topK: 20, topP: 0.95, seed: 77, presencePenalty: 0.4, frequencyPenalty: 0.3,
            repetitionPenalty: 1.2, logitBias: [8: 2, 17: -100], minP: 0.05)
        func run() -> [Int] {
            var s = Sampler(params: params, promptTokenIDs: [1, 2, 3])
            return (0..<300).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } }
        }
        let first = run()
        #expect(first == run())
        #expect(!first.contains(17))
    }

    /// Stop token ids end the output (kept out of the text) even with `ignoreEOS`.
    @Test func stopTokenIDsEndTheOutput() throws {
        let config = try EngineModels.tinyLlama.get().config
        var processor = OutputProcessor(tokenizer: nil, config: config)
        processor.add(EngineRequest(id: "a", promptIDs: [5], params: SamplingParams(ignoreEOS: true, stopTokenIDs: [11, 12])))
        let steps = OutputProcessorTests.feed(&processor, "a", [9, 10, 12], vocab: config.vocabSize)
        #expect(steps.map(\.stopped) == [false, false, true])
    }

    @Test func invalidAdjustmentsNameTheField() {
        func field(_ params: SamplingParams, vocab: Int = 100) -> String? {
            do { try params.validate(vocabularySize: vocab) } catch { if case .invalid(let name, _, _) = error { return name } }
            return nil
        }
        #expect(field(SamplingParams(presencePenalty: 2.5)) == "presence_penalty")
        #expect(field(SamplingParams(frequencyPenalty: -2.1)) == "frequency_penalty")
        #expect(field(SamplingParams(repetitionPenalty: 0)) == "repetition_penalty")
        #expect(field(SamplingParams(minP: 1.5)) == "min_p")
        #expect(field(SamplingParams(logitBias: [3: 101])) == "logit_bias")
        #expect(field(SamplingParams(logitBias: [100: 1])) == "logit_bias")
        #expect(field(SamplingParams(logitBias: [-1: 1])) == "logit_bias")
        #expect(field(SamplingParams(stopTokenIDs: [100])) == "stop_token_ids")
        #expect(field(SamplingParams(presencePenalty: 2, frequencyPenalty: -2, repetitionPenalty: 0.1,
                                     logitBias: [99: -100], minP: 1, stopTokenIDs: [0])) == nil)
    }
}
