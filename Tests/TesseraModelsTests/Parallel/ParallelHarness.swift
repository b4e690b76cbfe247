import Foundation
import TesseraDistributed
@testable import TesseraModels
import TesseraTensor

/// One sequence's life: a prompt prefilled in chunks, then greedy decode steps.
struct Scenario: Sendable, CustomStringConvertible {
    var prompt: [Int]
    var chunks: [Int]
    var decodeSteps: Int

    /// Tokens the cache holds at the end: the prompt and every fed-back generated token.
    var totalTokens: Int { prompt.count + decodeSteps }

    var description: String { "prompt \(prompt.count) in chunks \(chunks), \(decodeSteps) decode steps" }

    /// The edge cases of DESIGN.md's placement for a CP group of `cp` ranks: a prompt whose
    /// length is a multiple of cp (chunked, with a chunk long enough for the dense path), one
    /// shorter than cp (some ranks own nothing for a while), and a single token.
    static func edges(cp: Int, vocab: Int, decodeSteps: Int = 20) -> [Scenario] {
        func prompt(_ n: Int, seed: Int) -> [Int] { (0..<n).map { (seed + $0 * 37) % vocab } }
        let multiple = cp * ((40 + cp - 1) / cp)
        let short = max(1, cp - 1)
        return [
            Scenario(prompt: prompt(multiple, seed: 11), chunks: [7, multiple - 7], decodeSteps: decodeSteps),
            Scenario(prompt: prompt(short, seed: 5), chunks: [short], decodeSteps: decodeSteps),
            Scenario(prompt: prompt(1, seed: 3), chunks: [1], decodeSteps: decodeSteps),
        ]
    }
}

/// What one rank saw of a scenario.
struct ScenarioResult: Sendable {
    /// Logits of every prompt row, then of every decode step.
    var logits: [[Float]]
    var tokens: [Int]
    /// Slots of layer 0 holding a written key: the tokens this rank stores.
    var storedTokens: Int
}

/// How to build one rank's model in a parallel test.
struct ParallelSetup: Sendable {
    var tp: Int
    var cp: Int
    var interleave = 1
    var blockSize = 8
    var combine = CPCombine.allGatherReduceScatter
    var dtype = KVCacheDType.f32
    /// (dense threshold, dense row chunk) as in `AttentionTests.densePaths`; nil: defaults.
    var dense: (Int, Int?)? = nil

    var label: String {
        "tp=\(tp) cp=\(cp) I=\(interleave) block=\(blockSize) \(combine)" + (dense.map { " dense=\($0.0)/\($0.1 ?? 0)" } ?? "")
    }
}

enum ParallelHarness {
    /// Scattered logical block ids for `tokens` tokens, and the blocks a cache needs for them.
    static func blocks(tokens: Int, placement: KVPlacement, blockSize: Int) -> (table: [Int], numBlocks: Int) {
        let count = max(1, placement.logicalBlocks(for: tokens, blockSize: blockSize))
        return (AttentionTests.scatteredTable(count), 2 * count + 1)
    }

    /// Runs `scenario` through `model` with a fresh cache: prefill chunks (logits for every
    /// row), then greedy decode, feeding back each chosen token.
    static func run(_ scenario: Scenario, model: TransformerModel, blockSize: Int,
                    makeCache: (Int) -> PagedKVCache) throws -> ScenarioResult {
        let (table, numBlocks) = blocks(tokens: scenario.totalTokens, placement: model.attention.placement, blockSize: blockSize)
        let cache = makeCache(numBlocks)
        var logits: [[Float]] = []
        var done = 0
        func step(_ tokens: [Int], logitRows: [Int]) throws {
            let batch = ForwardBatch(
                tokens: tokens, positions: Array(done..<done + tokens.count),
                sequences: [SequenceSpan(tokenRange: 0..<tokens.count, contextLength: done, blockTable: table)],
                logitIndices: logitRows)
            let out = try model.forward(batch, cache: cache)
            let vocab = out.shape[1]
            for r in 0..<out.shape[0] { logits.append(Array(out.data[r * vocab..<(r + 1) * vocab])) }
            done += tokens.count
        }
        for size in scenario.chunks {
            try step(Array(scenario.prompt[done..<done + size]), logitRows: Array(0..<size))
        }
        var generated = [StepRunner.argmax(logits.last!)]
        for _ in 0..<scenario.decodeSteps {
            try step([generated.last!], logitRows: [0])
            generated.append(StepRunner.argmax(logits.last!))
        }
        return ScenarioResult(logits: logits, tokens: generated, storedTokens: storedTokens(cache))
    }

    /// Slots of layer 0 whose key is not all zeros (the cache starts zeroed).
    static func storedTokens(_ cache: PagedKVCache) -> Int {
        var stored = 0
        var key = [Float](repeating: 0, count: cache.headDim)
        for slot in 0..<cache.capacity {
            var written = false
            for head in 0..<cache.numKVHeads {
                cache.read(layer: 0, values: false, kvHead: head, firstSlot: slot, count: 1, into: &key)
                if key.contains(where: { $0 != 0 }) { written = true }
            }
            if written { stored += 1 }
        }
        return stored
    }

    /// The single-rank results of `scenarios`.
    static func reference(config: ModelConfig, weights: any WeightSource, scenarios: [Scenario],
                          dtype: KVCacheDType = .f32) throws -> [ScenarioResult] {
        let model = try TransformerModel(config: config, weights: weights)
        return try scenarios.map { scenario in
            try run(scenario, model: model, blockSize: 16) { blocks in
                PagedKVCache(config: config, numBlocks: blocks, blockSize: 16, dtype: dtype)
            }
        }
    }

    /// Every rank of a `setup` world loads its shard of `weights` and runs every scenario;
    /// results indexed `[rank][scenario]`. `communicators` may wrap a rank's TP and CP
    /// communicators (failure tests).
    static func parallel(
        config: ModelConfig, weights: any WeightSource, setup: ParallelSetup, scenarios: [Scenario],
        communicators: (@Sendable (Int, any Communicator, any Communicator) -> (any Communicator, any Communicator))? = nil
    ) throws -> [[ScenarioResult]] {
        let parallel = try ParallelConfig(tp: setup.tp, cp: setup.cp, cpInterleave: setup.interleave, model: config,
                                          blockSize: setup.blockSize)
        let world = InProcessWorld(grid: RankGrid(parallel))
        return try RankLauncher.run(world: world) { comms in
            var (tp, cp): (any Communicator, any Communicator) = (comms.tp, comms.cp)
            if let communicators { (tp, cp) = communicators(comms.rank, tp, cp) }
            let rank = try RankContext(parallel: parallel, rank: comms.rank, tp: tp, cp: cp, cpCombine: setup.combine)
            let model = try TransformerModel(config: config, weights: weights, rank: rank,
                                             denseAttentionThreshold: setup.dense?.0, denseRowChunk: setup.dense?.1)
            return try scenarios.map { scenario in
                try run(scenario, model: model, blockSize: setup.blockSize) { blocks in
                    PagedKVCache(config: config, numBlocks: blocks, blockSize: setup.blockSize, dtype: setup.dtype, rank: rank)
                }
            }
        }
    }
}
