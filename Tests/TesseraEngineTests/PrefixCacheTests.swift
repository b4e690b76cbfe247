import Testing
import TesseraModels
@testable import TesseraEngine

@Suite struct PrefixCacheTests {
    static func sharedPrefixRequests(prefixLength: Int = 24, count: Int = 6) -> [EngineRequest] {
        let prefix = randomPrompt(prefixLength, seed: 1234)
        return (0..<count).map { i in
            EngineRequest(id: "s\(i)", promptIDs: prefix + randomPrompt(1 + i * 3, seed: 900 + UInt64(i)),
                          params: SamplingParams(maxTokens: 10, ignoreEOS: true))
        }
    }

    /// First one request, then the rest together: they reuse its prefix blocks and produce
    /// exactly what they produce without caching.
    @Test(arguments: ["llama", "qwen3"])
    func sharedPrefixHitsAndSameOutputs(_ name: String) async throws {
        let model = try (name == "llama" ? EngineModels.tinyLlama : EngineModels.tinyQwen3).get()
        let requests = Self.sharedPrefixRequests()
        func run(caching: Bool) async throws -> ([Collected], EngineStats) {
            let (engine, _) = try EngineModels.engine(model, numBlocks: 64, blockSize: 4,
                                                      options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 8, enablePrefixCaching: caching))
            defer { engine.shutdown() }
            let first = try await runAll(engine, [requests[0]])
            return (try await first + runAll(engine, Array(requests.dropFirst())), engine.stats)
        }
        let (plain, plainStats) = try await run(caching: false)
        let (cached, stats) = try await run(caching: true)
        #expect(cached.map(\.ids) == plain.map(\.ids))
        #expect(plainStats.prefixHitTokens == 0)
        #expect(cached.dropFirst().allSatisfy { $0.cachedPromptTokens == 24 }, "\(cached.map(\.cachedPromptTokens))")
        #expect(stats.prefixHitTokens == 5 * 24 && stats.prefixHitRate > 0.5)
        #expect(stats.blocksUsed == 0)
        #expect(stats.batchedTokens < plainStats.batchedTokens - 5 * 24 + 1)
    }

    /// The same prompt twice, its length a multiple of the block: everything but the last block
    /// is reused (one token at least must run to give logits), output unchanged.
    @Test func aRepeatedPromptRecomputesItsLastBlock() async throws {
        let model = try EngineModels.tinyLlama.get()
        let (engine, _) = try EngineModels.engine(model, numBlocks: 32, blockSize: 4)
        defer { engine.shutdown() }
        let request = EngineRequest(id: "a", promptIDs: randomPrompt(16, seed: 5), params: SamplingParams(maxTokens: 8, ignoreEOS: true))
        let first = try await collect(engine.submit(request))
        let second = try await collect(engine.submit(request))
        #expect(second.ids == first.ids)
        #expect(first.cachedPromptTokens == 0 && second.cachedPromptTokens == 12)
    }

    /// Many distinct prefixes cycling through a small cache: cached blocks are evicted to make
    /// room, hits still happen where content survives, outputs equal an uncached run.
    @Test func evictionUnderPressureStaysCorrect() async throws {
        let model = try EngineModels.tinyLlama.get()
        let prefixes = (0..<5).map { randomPrompt(12, seed: 700 + UInt64($0)) }
        let requests = (0..<30).map { i in
            EngineRequest(id: "e\(i)", promptIDs: prefixes[(i * 7) % 5] + randomPrompt(1 + i % 6, seed: UInt64(i)),
                          params: SamplingParams(maxTokens: 6, ignoreEOS: true))
        }
        func run(caching: Bool) async throws -> ([Collected], EngineStats) {
            let (engine, _) = try EngineModels.engine(model, numBlocks: 18, blockSize: 4,
                                                      options: EngineOptions(maxNumBatchedTokens: 24, maxNumSeqs: 3, enablePrefixCaching: caching))
            defer { engine.shutdown() }
            var results: [Collected] = []
            for wave in stride(from: 0, to: requests.count, by: 3) {
                results += try await runAll(engine, Array(requests[wave..<min(wave + 3, requests.count)]))
            }
            return (results, engine.stats)
        }
        let (plain, _) = try await run(caching: false)
        let (cached, stats) = try await run(caching: true)
        #expect(cached.map(\.ids) == plain.map(\.ids))
        #expect(stats.evictions > 0 && stats.prefixHitTokens > 0)
        #expect(stats.blocksUsed == 0)
    }

    /// cp=2 (tiny Qwen3, tp=2): logical blocks of 4 x 2 tokens are cached and reused on both
    /// ranks; outputs equal the single-rank uncached run.
    @Test func contextParallelPrefixCaching() async throws {
        let model = try EngineModels.tinyQwen3.get()
        let requests = Self.sharedPrefixRequests()
        let (plainEngine, _) = try EngineModels.engine(model, numBlocks: 64, blockSize: 4,
                                                       options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 8, enablePrefixCaching: false))
        let plain = try await runAll(plainEngine, [requests[0]]) + runAll(plainEngine, Array(requests.dropFirst()))
        plainEngine.shutdown()
        let (engine, _) = try EngineModels.engine(model, tp: 2, cp: 2, numBlocks: 32, blockSize: 4,
                                                  options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 8))
        defer { engine.shutdown() }
        let cached = try await runAll(engine, [requests[0]]) + runAll(engine, Array(requests.dropFirst()))
        #expect(cached.map(\.ids) == plain.map(\.ids))
        #expect(cached.dropFirst().allSatisfy { $0.cachedPromptTokens == 24 }, "\(cached.map(\.cachedPromptTokens))")
        #expect(engine.stats.blocksUsed == 0)
    }
}
