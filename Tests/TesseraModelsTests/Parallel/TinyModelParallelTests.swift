import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels

/// The forward pass over tp ranks with the KV cache split cp ways against the single-rank run,
/// on the tiny fixture models: logits within 1e-4, greedy tokens identical, every rank
/// returning the same logits and storing exactly its share of the tokens.
@Suite("Tiny models over TP and CP ranks")
struct TinyModelParallelTests {
    static let tolerance: Float = 1e-4
    static let shapes = [(1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 8)]

    struct Model: Sendable {
        let config: ModelConfig
        let weights: any WeightSource
    }

    static func open(_ name: String) throws -> Model {
        let files = try ModelFiles.open(Fixtures.url("models/\(name)"))
        return Model(config: files.config, weights: files.weights)
    }

    /// What `ParallelConfig` must say about an invalid (tp, cp) for these models, nil if valid.
    static func expectedRejection(_ config: ModelConfig, tp: Int, cp: Int) -> String? {
        let duplication = max(1, tp / config.numKVHeads)
        guard cp > duplication else { return nil }
        if tp < config.numKVHeads {
            return "cp=\(cp) needs duplicated KV heads, but tp=\(tp) < num_kv_heads=\(config.numKVHeads) splits them (only cp=1 is possible) for this model (\(config.numHeads) query heads, \(config.numKVHeads) KV heads)"
        }
        return "cp=\(cp) exceeds tp/num_kv_heads = \(duplication) for this model (\(config.numHeads) query heads, \(config.numKVHeads) KV heads)"
    }

    /// Interleave and block size combinations for a CP group of `cp` ranks.
    static func layouts(cp: Int) -> [(interleave: Int, blockSize: Int)] {
        cp == 1 ? [(1, 8)] : [(1, 8), (2, 16), (4, 8)]
    }

    @Test(arguments: TinyModelParityTests.models)
    func parityWithTheSingleRankRun(name: String) throws {
        let model = try Self.open(name)
        var report: [String] = []
        for (tp, cp) in Self.shapes {
            if let rejection = Self.expectedRejection(model.config, tp: tp, cp: cp) {
                #expect(throws: ParallelConfigError.self) {
                    _ = try ParallelConfig(tp: tp, cp: cp, model: model.config, blockSize: 16)
                }
                do {
                    _ = try ParallelConfig(tp: tp, cp: cp, model: model.config, blockSize: 16)
                } catch {
                    #expect(error.description == rejection)
                }
                report.append("(\(tp),\(cp)) rejected")
                continue
            }
            let scenarios = Scenario.edges(cp: cp, vocab: model.config.vocabSize)
            let reference = try ParallelHarness.reference(config: model.config, weights: model.weights, scenarios: scenarios)
            var worst: Float = 0
            for layout in Self.layouts(cp: cp) {
                let setup = ParallelSetup(tp: tp, cp: cp, interleave: layout.interleave, blockSize: layout.blockSize)
                worst = max(worst, try Self.check(model, setup: setup, scenarios: scenarios, reference: reference))
            }
            report.append("(\(tp),\(cp)) \(worst)")
        }
        print("parallel parity \(name): max |logit diff| per (tp,cp):", report.joined(separator: ", "))
    }

    /// Runs `setup` under a deadline and checks it against `reference`; returns the largest
    /// logit difference.
    static func check(_ model: Model, setup: ParallelSetup, scenarios: [Scenario], reference: [ScenarioResult],
                      seconds: Double = 120) throws -> Float {
        let outcome = withDeadline(seconds: seconds) {
            try ParallelHarness.parallel(config: model.config, weights: model.weights, setup: setup, scenarios: scenarios)
        }
        guard case .success(let ranks)? = outcome else {
            Issue.record("\(setup.label): \(outcome.map { "\($0)" } ?? "did not finish within \(seconds) s")")
            return .infinity
        }
        let placement = KVPlacement(cp: setup.cp, interleave: setup.interleave)
        var worst: Float = 0
        for (s, scenario) in scenarios.enumerated() {
            let expected = reference[s]
            let got = ranks[0][s]
            let diff = AttentionTests.maxAbsDiff(got.logits, expected.logits)
            worst = max(worst, diff)
            #expect(got.logits.count == expected.logits.count, "\(setup.label), \(scenario)")
            #expect(diff <= tolerance, "\(setup.label), \(scenario): max |logit diff| \(diff)")
            #expect(got.tokens == expected.tokens, "\(setup.label), \(scenario)")
            for (rank, results) in ranks.enumerated() {
                // The all-gathered logits are the same bits everywhere.
                #expect(results[s].logits == got.logits, "\(setup.label), \(scenario): rank \(rank) differs from rank 0")
                let cpRank = rank % setup.cp
                #expect(results[s].storedTokens == placement.localLength(of: scenario.totalTokens, rank: cpRank),
                        "\(setup.label), \(scenario): rank \(rank) stores \(results[s].storedTokens) tokens")
            }
        }
        return worst
    }
}
