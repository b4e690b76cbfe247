import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels
import TesseraTensor

/// Context-parallel attention paths on a random-weights model with one KV head: both combine
/// variants, the per-row and dense (sgemm) paths, 16-bit caches, and batches of several
/// sequences whose collectives are batched per layer.
@Suite("Context-parallel attention")
struct ContextParallelAttentionTests {
    static let config = RandomWeights.config(.qwen3, heads: 8, kvHeads: 1, headDim: 10)
    static let weights = RandomWeights(config: config)

    @Test(arguments: CPCombine.allCases, [(4, 4), (4, 2), (2, 2), (8, 4)])
    func everyAttentionPathMatchesTheSingleRank(combine: CPCombine, shape: (Int, Int)) throws {
        let (tp, cp) = shape
        let scenarios = Scenario.edges(cp: cp, vocab: Self.config.vocabSize, decodeSteps: 6)
        let model = TinyModelParallelTests.Model(config: Self.config, weights: Self.weights)
        for (threshold, chunk) in AttentionTests.densePaths {
            let reference = try ParallelHarness.reference(config: Self.config, weights: Self.weights, scenarios: scenarios)
            let setup = ParallelSetup(tp: tp, cp: cp, interleave: 2, blockSize: 4, combine: combine, dense: (threshold, chunk))
            _ = try TinyModelParallelTests.check(model, setup: setup, scenarios: scenarios, reference: reference)
        }
    }

    /// A 16-bit cache rounds each K/V once, on whichever rank stores it: the same values as
    /// on a single rank, so parity holds as tightly as in f32.
    @Test(arguments: [KVCacheDType.f16, .bf16])
    func halfPrecisionCacheMatchesTheSingleRank(dtype: KVCacheDType) throws {
        let scenarios = Scenario.edges(cp: 4, vocab: Self.config.vocabSize, decodeSteps: 6)
        let reference = try ParallelHarness.reference(config: Self.config, weights: Self.weights, scenarios: scenarios, dtype: dtype)
        let model = TinyModelParallelTests.Model(config: Self.config, weights: Self.weights)
        let setup = ParallelSetup(tp: 4, cp: 4, interleave: 1, blockSize: 4, dtype: dtype)
        _ = try TinyModelParallelTests.check(model, setup: setup, scenarios: scenarios, reference: reference)
    }

    /// Several sequences per step (one prefilling a long chunk while another decodes and a
    /// third starts; contexts empty, shorter than cp and longer) give the logits each gets on
    /// a single rank.
    @Test(arguments: CPCombine.allCases)
    func sequencesInOneBatchMatchTheSingleRank(combine: CPCombine) throws {
        let config = Self.config
        let blockSize = 4
        let a = (0..<30).map { (7 + $0 * 13) % config.vocabSize }
        let b = (0..<50).map { (3 + $0 * 29) % config.vocabSize }
        // Block tables long enough for a single rank (cp = 1 needs the most); ids disjoint.
        let tableA = (0..<8).map { 2 * $0 }, tableB = (0..<13).map { 2 * $0 + 1 }, tableC = [26]
        let numBlocks = 27
        func span(_ rows: Range<Int>, _ context: Int, _ table: [Int]) -> SequenceSpan {
            SequenceSpan(tokenRange: rows, contextLength: context, blockTable: table)
        }
        var batches = [
            // a: 9-token prefill; b: 2 tokens (shorter than cp).
            ForwardBatch(tokens: Array(a[0..<9]) + Array(b[0..<2]), positions: Array(0..<9) + Array(0..<2),
                         sequences: [span(0..<9, 0, tableA), span(9..<11, 0, tableB)], logitIndices: [8, 10]),
            // b: a 35-row chunk (dense path) first in the rows; a: one decode token; c: a new
            // sequence, whose context is empty on every rank (all partials -inf: output 0).
            ForwardBatch(tokens: Array(b[2..<37]) + [a[9]] + Array(a[20..<23]), positions: Array(2..<37) + [9] + Array(0..<3),
                         sequences: [span(35..<36, 9, tableA), span(0..<35, 2, tableB), span(36..<39, 0, tableC)],
                         logitIndices: Array(0..<39)),
        ]
        for k in 0..<10 {
            batches.append(ForwardBatch(
                tokens: [b[37 + k], a[10 + k]], positions: [37 + k, 10 + k],
                sequences: [span(1..<2, 10 + k, tableA), span(0..<1, 37 + k, tableB)], logitIndices: [1, 0]))
        }
        let steps = batches
        let single = try TransformerModel(config: config, weights: Self.weights)
        let singleCache = PagedKVCache(config: config, numBlocks: numBlocks, blockSize: blockSize, dtype: .f32)
        let expected = try steps.map { try single.forward($0, cache: singleCache).data }

        for (tp, cp) in [(4, 4), (8, 2)] {
            let parallel = try ParallelConfig(tp: tp, cp: cp, cpInterleave: 2, model: config, blockSize: blockSize)
            let world = InProcessWorld(grid: RankGrid(parallel))
            let outcome = withDeadline(seconds: 60) {
                try RankLauncher.run(world: world) { comms in
                    let rank = try RankContext(parallel: parallel, rank: comms.rank, tp: comms.tp, cp: comms.cp, cpCombine: combine)
                    let model = try TransformerModel(config: config, weights: Self.weights, rank: rank)
                    let cache = PagedKVCache(config: config, numBlocks: numBlocks, blockSize: blockSize, dtype: .f32, rank: rank)
                    let logits = try steps.map { try model.forward($0, cache: cache).data }
                    return (logits, ParallelHarness.storedTokens(cache))
                }
            }
            guard case .success(let ranks)? = outcome else {
                Issue.record("tp=\(tp) cp=\(cp) \(combine): \(outcome.map { "\($0)" } ?? "timed out")")
                continue
            }
            let placement = KVPlacement(parallel)
            for (r, (logits, stored)) in ranks.enumerated() {
                let diff = AttentionTests.maxAbsDiff(logits, expected)
                #expect(diff <= TinyModelParallelTests.tolerance, "tp=\(tp) cp=\(cp) \(combine) rank \(r): \(diff)")
                let cpRank = r % cp
                #expect(stored == [20, 47, 3].map { placement.localLength(of: $0, rank: cpRank) }.reduce(0, +))
            }
        }
    }

    /// The block table must cover `ceil(length / (blockSize * cp))` logical blocks, no more.
    @Test func blockTablesCountLogicalBlocks() throws {
        let config = Self.config
        let parallel = try ParallelConfig(tp: 2, cp: 2, cpInterleave: 2, model: config, blockSize: 4)
        let world = InProcessWorld(grid: RankGrid(parallel))
        let outcome = withDeadline(seconds: 30) {
            try RankLauncher.run(world: world) { comms -> String in
                let rank = try RankContext(parallel: parallel, rank: comms.rank, tp: comms.tp, cp: comms.cp)
                let model = try TransformerModel(config: config, weights: Self.weights, rank: rank)
                let cache = PagedKVCache(config: config, numBlocks: 4, blockSize: 4, dtype: .f32, rank: rank)
                // 16 tokens = 2 logical blocks of 4 x 2: enough.
                let tokens = Array(1...16)
                _ = try model.forward(ForwardBatch(
                    tokens: tokens, positions: Array(0..<16),
                    sequences: [SequenceSpan(tokenRange: 0..<16, contextLength: 0, blockTable: [3, 1])],
                    logitIndices: [15]), cache: cache)
                // One more token needs a third.
                do {
                    _ = try model.forward(ForwardBatch(
                        tokens: [5], positions: [16],
                        sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: 16, blockTable: [3, 1])],
                        logitIndices: [0]), cache: cache)
                    return "accepted"
                } catch {
                    return "\(error)"
                }
            }
        }
        guard case .success(let messages)? = outcome else {
            Issue.record("\(String(describing: outcome))")
            return
        }
        #expect(messages == Array(repeating:
            "invalid forward batch: sequence 0 needs 3 blocks for 17 tokens (logical blocks of 4 x cp=2 tokens), block table has 2", count: 2))
    }
}
