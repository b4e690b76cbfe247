import TestSupport
import Testing
import TesseraDistributed
import TesseraEngine
import TesseraModels
@testable import TesseraTools

@Suite struct BenchTests {
    /// The benchmark's workload is seeded and within its bounds; a run reports every request.
    @Test func benchWorkloadAndReport() async throws {
        let a = try BenchWorkload(numPrompts: 20, inputLength: 30, outputLength: 8, randomRangeRatio: 0.5,
                                  sharedPrefixLength: 8, vocabularySize: 1000, seed: 3)
        #expect(a == (try BenchWorkload(numPrompts: 20, inputLength: 30, outputLength: 8, randomRangeRatio: 0.5,
                                        sharedPrefixLength: 8, vocabularySize: 1000, seed: 3)))
        #expect(a.items.allSatisfy { (15...45).contains($0.promptIDs.count) && (4...12).contains($0.outputLength) })
        #expect(a.items.allSatisfy { $0.promptIDs.prefix(8) == a.items[0].promptIDs.prefix(8) })
        #expect(Set(a.items.map(\.promptIDs.count)).count > 1)
        #expect(throws: BenchError.self) { try BenchWorkload(numPrompts: 0, inputLength: 1, outputLength: 1, vocabularySize: 10) }

        let files = try ModelFiles.open(Fixtures.url("models/tiny-llama"))
        let runner = try ModelRunner(
            config: files.config, weights: files.weights,
            parallel: ParallelConfig(tp: 1, cp: 1, cpInterleave: 1, model: files.config, blockSize: 4),
            numBlocks: 40, kvCacheDType: .f32)
        defer { runner.shutdown() }
        let engine = try EngineCore(executor: runner, tokenizer: nil, options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 4))
        defer { engine.shutdown() }
        let report = try await BenchRunner.run(a, engine: engine, concurrency: 4)
        #expect(report.requests == 20 && report.outputTokens == a.outputTokens && report.inputTokens == a.inputTokens)
        #expect(report.maxRunningSequences <= 4 && report.kvBlocksPeak <= 40 && report.prefixCacheHitRate > 0)
        #expect(report.ttft.median > 0 && report.e2e.p99 >= report.e2e.median && report.tpot.mean > 0)
        let summary = LatencySummary([4, 1, 3, 2])
        #expect(summary.mean == 2.5 && summary.median == 2.5 && abs(summary.p99 - 3.97) < 1e-12)
    }
}
