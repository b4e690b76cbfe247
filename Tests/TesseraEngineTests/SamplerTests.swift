import Foundation
import Testing
@testable import TesseraEngine

@Suite struct SamplerTests {
    private func sample(_ logits: [Float], _ params: SamplingParams, draws: Int = 1) -> [Int] {
        var sampler = Sampler(params: params)
        return (0..<draws).map { _ in logits.withUnsafeBufferPointer { sampler.sample($0) } }
    }

    @Test func greedyTakesTheLargestLogitAndTheFirstOfTies() {
        #expect(sample([0.1, 3, -2, 2.9], SamplingParams()) == [1])
        #expect(sample([1, 5, 5, 0], SamplingParams()) == [1])
        #expect(sample([-.infinity, -1e30, -.infinity], SamplingParams()) == [1])
    }

    @Test func sameSeedSameTokensOtherSeedOtherTokens() {
        let logits = (0..<50).map { Float($0 % 7) * 0.3 }
        let params = SamplingParams(temperature: 1, seed: 42)
        let first = sample(logits, params, draws: 200)
        #expect(first == sample(logits, params, draws: 200))
        var other = params
        other.seed = 43
        #expect(first != sample(logits, other, draws: 200))
    }

    @Test func topKNeverLeavesTheKBest() {
        let logits: [Float] = [0, 4, 1, 3.9, 2, 3.8]
        let drawn = Set(sample(logits, SamplingParams(temperature: 5, topK: 2, seed: 1), draws: 500))
        #expect(drawn == [1, 3])
    }

    @Test func topPKeepsTheSmallestSetReachingP() {
        // softmax of [ln 0.5, ln 0.3, ln 0.15, ln 0.05]: top-p 0.8 keeps exactly the first two.
        let logits = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        let drawn = sample(logits, SamplingParams(temperature: 1, topP: 0.8, seed: 3), draws: 2000)
        #expect(Set(drawn) == [0, 1])
        let share = Double(drawn.filter { $0 == 0 }.count) / Double(drawn.count)
        #expect(abs(share - 0.5 / 0.8) < 0.05)
    }

    @Test func drawsFollowTheDistribution() {
        let probabilities: [Double] = [0.6, 0.3, 0.1]
        let drawn = sample(probabilities.map { Float(log($0)) }, SamplingParams(temperature: 1, seed: 9), draws: 5000)
        for (token, p) in probabilities.enumerated() {
            let share = Double(drawn.filter { $0 == token }.count) / 5000
            #expect(abs(share - p) < 0.03, "token \(token): \(share) vs \(p)")
        }
    }

    @Test func temperatureFlattens() {
        let logits: [Float] = [2, 0]
        let cold = sample(logits, SamplingParams(temperature: 0.25, seed: 5), draws: 2000).filter { $0 == 1 }.count
        let hot = sample(logits, SamplingParams(temperature: 4, seed: 5), draws: 2000).filter { $0 == 1 }.count
        #expect(cold < 20)
        #expect(hot > 600)
    }

    @Test func invalidParametersNameTheField() {
        #expect(throws: SamplingParamsError.invalid("temperature", "-1.0", "must be >= 0")) {
            try SamplingParams(temperature: -1).validate()
        }
        #expect(throws: SamplingParamsError.self) { try SamplingParams(topP: 0).validate() }
        #expect(throws: SamplingParamsError.self) { try SamplingParams(topP: 1.5).validate() }
        #expect(throws: SamplingParamsError.self) { try SamplingParams(maxTokens: 0).validate() }
        #expect(throws: SamplingParamsError.self) { try SamplingParams(stop: [""]).validate() }
        #expect(throws: Never.self) { try SamplingParams(temperature: 0.7, topK: 40, topP: 0.9).validate() }
    }
}
