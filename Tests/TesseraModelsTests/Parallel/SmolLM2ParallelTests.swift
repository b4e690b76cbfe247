import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels

/// SmolLM2-135M (9 query heads, 3 KV heads, intermediate 1536, vocabulary 49152) over 3 ranks
/// (KV heads split, cp = 1) and over 9 ranks with cp = 3 (each KV head shared by a CP group
/// of 3, which splits its tokens). 1536 and 49152 are not multiples of 9: the MLP slices are
/// 170 or 171 wide and the vocabulary chunks 5462 (the last 5456).
@Suite("SmolLM2 over TP and CP ranks", .serialized)
struct SmolLM2ParallelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let setup: ParallelSetup
        var testDescription: String { setup.label }
    }

    static let cases = [
        Case(setup: ParallelSetup(tp: 3, cp: 1, interleave: 1, blockSize: 16)),
        Case(setup: ParallelSetup(tp: 9, cp: 3, interleave: 1, blockSize: 16)),
        Case(setup: ParallelSetup(tp: 9, cp: 3, interleave: 4, blockSize: 16, combine: .allToAll)),
    ]

    /// A real prompt of 54 tokens (a multiple of 3 and 9) in two chunks, one of 2 (< cp) and
    /// one of 1, each followed by 20 greedy steps.
    static func scenarios() throws -> [Scenario] {
        let reference = try SafetensorsFile(url: Fixtures.url("logits/smollm2.safetensors"))
        let long = Array(try reference.integers("prompt1.ids").prefix(54))
        return [
            Scenario(prompt: long, chunks: [7, 47], decodeSteps: 20),
            Scenario(prompt: Array(long.prefix(2)), chunks: [2], decodeSteps: 20),
            Scenario(prompt: Array(long.prefix(1)), chunks: [1], decodeSteps: 20),
        ]
    }

    /// Single-rank results, computed once with the model the parity suite loads.
    static let reference: Result<[ScenarioResult], any Error> = Result {
        let model = try SmolLM2ParityTests.model()
        return try scenarios().map { scenario in
            try ParallelHarness.run(scenario, model: model, blockSize: 16) { blocks in
                PagedKVCache(config: model.config, numBlocks: blocks, blockSize: 16, dtype: .f32)
            }
        }
    }

    @Test(arguments: cases)
    func parityWithTheSingleRankRun(_ testCase: Case) throws {
        let files = try ModelFiles.open(try Fixtures.smolLM2())
        let model = TinyModelParallelTests.Model(config: files.config, weights: DequantizedWeights(files.weights))
        let start = Date()
        let worst = try TinyModelParallelTests.check(model, setup: testCase.setup, scenarios: try Self.scenarios(),
                                                     reference: try Self.reference.get(), seconds: 600)
        print("parallel parity smollm2 \(testCase.setup.label): max |logit diff| \(worst) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
    }

    @Test func shardsOfNineRanksAreUneven() throws {
        let config = try ModelFiles.open(try Fixtures.smolLM2()).config
        let parallel = try ParallelConfig(tp: 9, cp: 3, model: config, blockSize: 16)
        let shards = try (0..<9).map { try RankShards(model: config, parallel: parallel, rank: $0) }
        #expect(Set(shards.map(\.intermediate.count)) == [170, 171])
        #expect(shards.map(\.intermediate.count).reduce(0, +) == 1536)
        #expect(shards.map(\.vocab.count) == Array(repeating: 5462, count: 8) + [5456])
        #expect(shards.map(\.kvHeads) == [0..<1, 0..<1, 0..<1, 1..<2, 1..<2, 1..<2, 2..<3, 2..<3, 2..<3])
        #expect(shards.map(\.queryHeads) == (0..<9).map { $0..<$0 + 1 })
        #expect(throws: ParallelConfigError.headsNotDivisibleByTP(numHeads: 9, tp: 2)) {
            try ParallelConfig(tp: 2, model: config, blockSize: 16)
        }
    }
}
