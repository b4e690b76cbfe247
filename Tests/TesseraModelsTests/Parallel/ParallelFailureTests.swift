import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels

/// A rank failing in the middle of a forward pass ends the whole run with its error: the
/// other ranks, blocked in collectives, are woken and nothing deadlocks.
@Suite("Parallel forward failures")
struct ParallelFailureTests {
    static func model() throws -> TinyModelParallelTests.Model { try TinyModelParallelTests.open("tiny-llama-1kv") }

    /// Runs the edge scenarios on tp=4 cp=4 with rank 2's TP or CP communicator failing at
    /// its `failAt`-th collective; returns the error the run ended with.
    private func failingRun(group: String, failAt: Int, combine: CPCombine) throws -> String? {
        let model = try Self.model()
        let scenarios = Scenario.edges(cp: 4, vocab: model.config.vocabSize, decodeSteps: 4)
        let setup = ParallelSetup(tp: 4, cp: 4, interleave: 1, blockSize: 8, combine: combine)
        let outcome = withDeadline(seconds: 30) {
            try ParallelHarness.parallel(config: model.config, weights: model.weights, setup: setup, scenarios: scenarios) { rank, tp, cp in
                guard rank == 2 else { return (tp, cp) }
                return group == "TP" ? (FailingCommunicator(base: tp, failAt: failAt), cp) : (tp, FailingCommunicator(base: cp, failAt: failAt))
            }
        }
        switch outcome {
        case nil:
            Issue.record("the ranks did not end within 30 s: deadlock")
            return nil
        case .success:
            Issue.record("the run succeeded although rank 2 failed")
            return nil
        case .failure(let error):
            return "\(error)"
        }
    }

    @Test(arguments: [("TP", 7), ("TP", 40), ("CP", 2), ("CP", 11)], CPCombine.allCases)
    func aFailingCollectiveEndsTheRunWithItsError(failure: (String, Int), combine: CPCombine) throws {
        let message = try failingRun(group: failure.0, failAt: failure.1, combine: combine)
        #expect(message?.hasPrefix("rank 2: injected failure in ") == true, "\(message ?? "nil")")
        #expect(message?.hasSuffix("collective \(failure.1)") == true, "\(message ?? "nil")")
    }

    /// A rank whose own cache is too small throws at validation, before its first collective,
    /// while the others are already waiting in one.
    @Test func aRankRejectingTheBatchEndsTheRun() throws {
        let model = try Self.model()
        let config = model.config
        let parallel = try ParallelConfig(tp: 4, cp: 2, model: config, blockSize: 8)
        let world = InProcessWorld(grid: RankGrid(parallel))
        let outcome = withDeadline(seconds: 30) {
            try RankLauncher.run(world: world) { comms in
                let rank = try RankContext(parallel: parallel, rank: comms.rank, tp: comms.tp, cp: comms.cp)
                let transformer = try TransformerModel(config: config, weights: model.weights, rank: rank)
                let cache = PagedKVCache(config: config, numBlocks: comms.rank == 3 ? 2 : 8, blockSize: 8, dtype: .f32, rank: rank)
                for step in 0..<4 {
                    _ = try transformer.forward(ForwardBatch(
                        tokens: [step + 1], positions: [step],
                        sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: step, blockTable: [5])],
                        logitIndices: [0]), cache: cache)
                }
            }
        }
        guard case .failure(let error)? = outcome else {
            Issue.record("expected rank 3's error, got \(String(describing: outcome))")
            return
        }
        #expect(error as? TransformerError == .invalidBatch("sequence 0 block id 5 outside the cache's 2 blocks"))
    }
}
