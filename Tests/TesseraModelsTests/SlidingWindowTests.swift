import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels
import TesseraTensor

/// Sliding-window attention (Mistral): a query at position p sees keys p - window + 1 ... p.
/// Against transformers through the tiny Mistral fixture (`ModelFamilyTests`); here, the
/// window's own properties, on every attention path and over TP and CP ranks.
@Suite("Sliding window")
struct SlidingWindowTests {
    static func config(window: Int?, layers: Int = 2, kvHeads: Int = 2) -> ModelConfig {
        var c = RandomWeights.config(.llama, heads: 4, kvHeads: kvHeads, headDim: 8)
        c.numLayers = layers
        c.slidingWindow = window
        return c
    }

    /// Chunked prefill, token-by-token decode and mixed steps, through every attention path
    /// (per-row, dense in chunks, dense), with block sizes below, around and above the window:
    /// the same logits as one prefill.
    @Test(arguments: [1, 4, 16])
    func splitPointsDoNotChangeLogits(blockSize: Int) throws {
        for (threshold, chunk) in AttentionTests.densePaths {
            try AttentionTests().checkSplitPoints(config: Self.config(window: 6), blockSize: blockSize,
                                                  denseThreshold: threshold, rowChunk: chunk)
        }
    }

    /// One layer: the logits at position p depend only on the window's tokens, and rotary
    /// scores depend only on position differences, so they equal the unwindowed model's logits
    /// for those `window` tokens alone (at positions 0 ..< window). An independent check of
    /// the masking, not a comparison of the engine with itself at another setting.
    @Test func oneLayerSeesExactlyTheWindow() throws {
        let window = 5
        let windowed = Self.config(window: window, layers: 1)
        var full = windowed
        full.slidingWindow = nil
        let weights = RandomWeights(config: full, seed: 7)
        let a = try TransformerModel(config: windowed, weights: weights)
        let b = try TransformerModel(config: full, weights: weights)
        let tokens = AttentionTests.sequence
        let logits = try TinyModelParityTests.runner(a, tokens: tokens.count, blockSize: 4).logits(tokens, steps: [tokens.count])
        var worst: Float = 0
        for p in [window - 1, window, 17, tokens.count - 1] {
            let slice = Array(tokens[(p - window + 1)...p])
            let alone = try TinyModelParityTests.runner(b, tokens: window, blockSize: 4).logits(slice, steps: [window])
            worst = max(worst, AttentionTests.maxAbsDiff([logits[p]], [alone[window - 1]]))
        }
        #expect(worst < 1e-4, "max |logit diff| \(worst)")
        // And the window does cut something: past it, the full model differs.
        let unwindowed = try TinyModelParityTests.runner(b, tokens: tokens.count, blockSize: 4).logits(tokens, steps: [tokens.count])
        #expect(AttentionTests.maxAbsDiff(Array(logits[..<window]), Array(unwindowed[..<window])) < 1e-5)
        #expect(AttentionTests.maxAbsDiff([logits[tokens.count - 1]], [unwindowed[tokens.count - 1]]) > 1e-3)
    }

    /// Blocks wholly before the window may be given back: a block table whose dead entries
    /// are negative decodes exactly as the full table.
    @Test func deadBlocksAreNeverRead() throws {
        let window = 6, blockSize = 4
        let c = Self.config(window: window)
        let model = try TransformerModel(config: c, weights: RandomWeights(config: c))
        let tokens = AttentionTests.sequence
        let blocks = (tokens.count + blockSize - 1) / blockSize
        let table = AttentionTests.scatteredTable(blocks)
        let cache = PagedKVCache(config: c, numBlocks: 2 * blocks + 1, blockSize: blockSize, dtype: .f32)
        let prefill = 20
        let reference = try StepRunner(model: model, cache: cache, blockTable: table).logits(tokens, steps: [tokens.count])
        let cache2 = PagedKVCache(config: c, numBlocks: 2 * blocks + 1, blockSize: blockSize, dtype: .f32)
        var got = try StepRunner(model: model, cache: cache2, blockTable: table)
            .logits(Array(tokens[..<prefill]), steps: [prefill])
        for p in prefill..<tokens.count {
            var holed = table
            let dead = max(0, p - window + 1) / blockSize
            for i in 0..<dead { holed[i] = -1 }
            let batch = ForwardBatch(tokens: [tokens[p]], positions: [p],
                                     sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: p, blockTable: holed)],
                                     logitIndices: [0])
            got.append(try model.forward(batch, cache: cache2).data)
        }
        #expect(AttentionTests.maxAbsDiff(got, reference) < 1e-4)
        // A negative entry the step does read is refused.
        var bad = table
        bad[(tokens.count - 1) / blockSize] = -1
        let batch = ForwardBatch(tokens: [tokens[0]], positions: [tokens.count - 1],
                                 sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: tokens.count - 1, blockTable: bad)],
                                 logitIndices: [0])
        #expect(throws: TransformerError.self) { _ = try model.forward(batch, cache: cache2) }
    }

    /// Over TP and CP ranks the window holds on every rank's slice: within 1e-4 of one rank,
    /// greedy identical, each rank storing its share.
    @Test func parityOverTPAndCPRanks() throws {
        let c = Self.config(window: 7, kvHeads: 1)
        let model = TinyModelParallelTests.Model(config: c, weights: RandomWeights(config: c))
        for (tp, cp) in [(2, 1), (2, 2), (4, 2), (4, 4)] {  // one KV head: cp may be any divisor of tp
            let scenarios = Scenario.edges(cp: cp, vocab: c.vocabSize)
            let reference = try ParallelHarness.reference(config: c, weights: model.weights, scenarios: scenarios)
            for layout in TinyModelParallelTests.layouts(cp: cp) {
                for dense in [nil, (1, 5)] as [(Int, Int?)?] {
                    let setup = ParallelSetup(tp: tp, cp: cp, interleave: layout.interleave, blockSize: layout.blockSize,
                                              dense: dense)
                    _ = try TinyModelParallelTests.check(model, setup: setup, scenarios: scenarios, reference: reference)
                }
            }
        }
    }
}

extension SlidingWindowTests {
    /// tiny-mistral (window 8, shorter than the 37-token prompt) against transformers is in
    /// `TinyModelParityTests`; its GGUF gives the folder's logits through the window too.
    @Test func mistralGGUFGivesTheFolderLogits() throws {
        let folder = try ModelFiles.open(Fixtures.url("models/tiny-mistral"))
        let gguf = try ModelFiles.open(Fixtures.url("gguf/tiny-mistral.gguf"))
        #expect(gguf.config.slidingWindow == folder.config.slidingWindow)
        // Chunked, so the second chunk's rows see the window across the chunk boundary.
        let worst = try TinyModelParityTests.ggufAgainstFolder("tiny-mistral", folder: folder, gguf: gguf) { [min(5, $0), $0 - min(5, $0)].filter { $0 > 0 } }
        #expect(worst < 1e-4)
    }
}
