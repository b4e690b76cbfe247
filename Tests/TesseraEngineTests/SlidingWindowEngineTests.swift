import Foundation
import Testing
import TesseraDistributed
import TesseraModels
@testable import TesseraEngine

/// The engine with a sliding-window model keeps only what the window needs: blocks that no
/// future query can see are given back as sequences run, so sequences longer than the whole
/// cache complete, with the outputs of an ample cache, on one rank and with CP.
@Suite struct SlidingWindowEngineTests {
    static let window = 8

    /// tiny-llama's weights run with a window of 8 (the attention is the point here; parity of
    /// windowed models with transformers is the Mistral fixture's).
    static func engine(tp: Int = 1, cp: Int = 1, numBlocks: Int, options: EngineOptions) throws -> EngineCore {
        let files = try EngineModels.tinyLlama.get()
        var config = files.config
        config.slidingWindow = window
        let parallel = try ParallelConfig(tp: tp, cp: cp, model: config, blockSize: 4)
        let runner = try ModelRunner(config: config, weights: files.weights, parallel: parallel, numBlocks: numBlocks,
                                     kvCacheDType: .f32)
        return try EngineCore(executor: runner, tokenizer: nil, options: options)
    }

    static let requests = [30, 12, 25].enumerated().map { i, length in
        EngineRequest(id: "w\(i)", promptIDs: randomPrompt(length, seed: 70 + UInt64(i)),
                      params: SamplingParams(maxTokens: 40, ignoreEOS: true))
    }

    @Test(arguments: [(1, 1), (4, 2)])
    func sequencesLongerThanTheCacheComplete(tp: Int, cp: Int) async throws {
        let options = EngineOptions(maxNumBatchedTokens: 8, maxNumSeqs: 3)
        let ample = try Self.engine(tp: tp, cp: cp, numBlocks: 100, options: options)
        let expected = try await runAll(ample, Self.requests)
        let ampleStats = ample.stats
        ample.shutdown()
        // Each sequence holds at most window + chunk + a block at each end: 8 + 8 + 2 * 4 tokens.
        #expect(ampleStats.peakBlocksUsed * ample.executor.tokensPerBlock <= 3 * (Self.window + 8 + 2 * 4 * cp),
                "peak \(ampleStats.peakBlocksUsed) blocks")
        #expect(ampleStats.preemptions == 0)

        // 10 logical blocks: fewer tokens than the longest sequence (30 + 40).
        let small = try Self.engine(tp: tp, cp: cp, numBlocks: 10 / cp, options: options)
        defer { small.shutdown() }
        #expect(small.maxSequenceLength > small.executor.numBlocks * small.executor.tokensPerBlock)
        let outputs = try await runAll(small, Self.requests)
        #expect(outputs.map(\.ids) == expected.map(\.ids))
        #expect(outputs.allSatisfy { $0.finish == .length && $0.ids.count == 40 })
        #expect(small.stats.blocksUsed == 0, "every block free at the end")
    }
}
