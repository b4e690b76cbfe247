import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels
import TesseraTensor

/// DeepSeek-style models (multi-head latent attention, mixture of experts, YaRN) against
/// transformers, over TP and CP ranks against one rank, and as GGUF files against their
/// Hugging Face folders. The fixtures (`scripts/make_fixtures.py --only deepseek`) are a
/// V2-style model (no query LoRA, softmax group-limited routing, bf16) and a V3-style one
/// (query LoRA, sigmoid routing with a non-zero correction bias, YaRN, sharded f32).
@Suite("DeepSeek models")
struct DeepSeekTests {
    static let models = ["tiny-deepseek-v2", "tiny-deepseek-v3"]
    /// The (tp, cp) shapes of issue 11: cp any divisor of tp, since the latent is one head.
    static let shapes = [(1, 1), (2, 2), (4, 4), (8, 8), (8, 2), (4, 1)]

    @Test(arguments: models)
    func configIsLatentAttentionWithExperts(name: String) throws {
        let config = try ModelFiles.open(Fixtures.url("models/\(name)")).config
        let m = try #require(config.latentAttention)
        #expect(config.architecture == .deepseek2)
        #expect(config.numKVHeads == 1)
        #expect(config.headDim == m.cacheWidth)
        #expect(config.kvCacheParts == 1)
        let experts = try #require(config.experts)
        #expect(!experts.isExpertLayer(0) && experts.isExpertLayer(1) && experts.isExpertLayer(2))
        if name.hasSuffix("v3") {
            #expect(m.qLoraRank != nil && experts.scoring == .sigmoid && config.yarn != nil)
        } else {
            #expect(m.qLoraRank == nil && experts.scoring == .softmax && config.yarn == nil)
        }
    }

    @Test(arguments: models)
    func prefillAndDecodeMatchTransformers(name: String) throws {
        try TinyModelParityTests().prefillAndDecodeMatchTransformers(name: name)
    }

    @Test(arguments: models)
    func greedyContinuationMatchesTransformers(name: String) throws {
        try TinyModelParityTests().greedyContinuationMatchesTransformers(name: name)
    }

    /// The GGUF written from the same weights (older `attn_kv_b` layout for v2, split
    /// `attn_k_b`/`attn_v_b` and 3-D experts for v3) gives the folder's logits.
    @Test(arguments: models)
    func ggufGivesTheFolderLogits(name: String) throws {
        let folder = try ModelFiles.open(Fixtures.url("models/\(name)"))
        let gguf = try ModelFiles.open(Fixtures.url("gguf/\(name).gguf"))
        #expect(gguf.config.latentAttention == folder.config.latentAttention)
        #expect(gguf.config.experts?.numExperts == folder.config.experts?.numExperts)
        #expect(gguf.config.yarn?.factor == folder.config.yarn?.factor)
        let worst = try TinyModelParityTests.ggufAgainstFolder(name, folder: folder, gguf: gguf)
        #expect(worst <= 1e-4)
    }

    @Test(arguments: models)
    func parityOverTPAndCPRanks(name: String) throws {
        let model = try TinyModelParallelTests.open(name)
        var report: [String] = []
        for (tp, cp) in Self.shapes {
            let scenarios = Scenario.edges(cp: cp, vocab: model.config.vocabSize)
            let reference = try ParallelHarness.reference(config: model.config, weights: model.weights, scenarios: scenarios)
            var worst: Float = 0
            for layout in TinyModelParallelTests.layouts(cp: cp) {
                for combine in [CPCombine.allGatherReduceScatter, .allToAll] where cp > 1 || combine == .allGatherReduceScatter {
                    let setup = ParallelSetup(tp: tp, cp: cp, interleave: layout.interleave, blockSize: layout.blockSize,
                                              combine: combine)
                    worst = max(worst, try TinyModelParallelTests.check(model, setup: setup, scenarios: scenarios, reference: reference))
                }
            }
            report.append("(\(tp),\(cp)) \(worst)")
        }
        print("deepseek parallel parity \(name):", report.joined(separator: ", "))
    }

    /// The latent is one head for all query heads: the cache stores `kv_lora_rank + rope`
    /// values per token and layer, once (no separate values).
    @Test func latentCacheBytesPerToken() throws {
        let config = try ModelConfig(huggingFaceConfig: Self.liteConfig)
        #expect(PagedKVCache.bytesPerToken(config: config, dtype: .bf16) == 27 * 576 * 2)
        let cache = PagedKVCache(config: config, numBlocks: 2, blockSize: 16, dtype: .bf16)
        #expect(cache.totalBytes == 27 * 2 * 16 * 576 * 2)
    }

    static let liteConfig = examplesDirectory.appendingPathComponent("DeepSeek-V2-Lite/config.json")

    /// `tessera plan`'s numbers for DeepSeek-V2-Lite at tp=8: cp=8 holds exactly 8x the
    /// tokens of cp=1 with the same memory per rank.
    @Test func liteCapacityAtTP8() throws {
        let config = try ModelConfig(huggingFaceConfig: Self.liteConfig)
        #expect(config.numHeads == 16 && config.numLayers == 27 && config.headDim == 576)
        #expect(config.experts?.numExperts == 64 && config.experts?.expertsPerToken == 6 && config.experts?.sharedExperts == 2)
        #expect(config.yarn?.factor == 40)
        func plan(cp: Int) throws -> KVCapacityPlan {
            let parallel = try ParallelConfig(tp: 8, cp: cp, model: config, blockSize: 16)
            return try KVCapacityPlan(model: config, parallel: parallel, budgetBytesPerRank: 4 << 30, kvElementBytes: 2,
                                      maxModelLen: 32_768)
        }
        let one = try plan(cp: 1), eight = try plan(cp: 8)
        #expect(one.bytesPerTokenPerRank == 27 * 576 * 2)
        #expect(eight.bytesPerTokenPerRank == one.bytesPerTokenPerRank)
        #expect(eight.usedBytesPerRank == one.usedBytesPerRank)
        #expect(eight.tokensPerGroup == 8 * one.tokensPerGroup)
    }

    /// V3 routing by hand: the correction bias changes which experts are chosen, the weights
    /// come from the unbiased sigmoid scores, renormalised and scaled; dropped groups never win.
    @Test func sigmoidRoutingWithBiasAndGroups() {
        let m = MixtureOfExperts(numExperts: 8, expertsPerToken: 2, expertIntermediateSize: 4, sharedExperts: 0,
                                 firstDenseLayers: 0, layerFrequency: 1, scoring: .sigmoid, groups: 4, groupsPerToken: 2,
                                 normalizeTopK: true, routedScalingFactor: 2.5)
        let logits: [Float] = [2.0, 1.9, -3, -3, 0.5, 0.4, 1.0, -1]
        let plain = logits.withUnsafeBufferPointer { ExpertRouter.route(logits: $0.baseAddress!, config: m, bias: nil) }
        #expect(plain.experts == [0, 1])
        var bias = [Float](repeating: 0, count: 8)
        bias[6] = 0.5
        bias[7] = 0.5
        let biased = logits.withUnsafeBufferPointer { ExpertRouter.route(logits: $0.baseAddress!, config: m, bias: bias) }
        // Group sums of the two best biased scores: g0 1.75, g1 0.09, g2 1.22, g3 2.00:
        // groups 0 and 3 are kept; the best biased scores there: expert 0 (0.881) then 6 (1.231).
        #expect(biased.experts == [6, 0])
        let s6 = 1 / (1 + Foundation.exp(Float(-1.0))), s0 = 1 / (1 + Foundation.exp(Float(-2.0)))
        #expect(abs(biased.weights[0] - 2.5 * s6 / (s6 + s0)) < 1e-6)
        #expect(abs(biased.weights[1] - 2.5 * s0 / (s6 + s0)) < 1e-6)
    }

    /// Softmax with group-limited greedy: experts of dropped groups are never chosen even when
    /// their score would be in the top-k.
    @Test func softmaxGroupLimitedRouting() {
        let m = MixtureOfExperts(numExperts: 4, expertsPerToken: 2, expertIntermediateSize: 4, sharedExperts: 0,
                                 firstDenseLayers: 0, layerFrequency: 1, scoring: .softmax, groups: 2, groupsPerToken: 1,
                                 normalizeTopK: false, routedScalingFactor: 1.5)
        let logits: [Float] = [3, -2, 2.9, 2.8]
        let route = logits.withUnsafeBufferPointer { ExpertRouter.route(logits: $0.baseAddress!, config: m, bias: nil) }
        // Group 0's best (3) beats group 1's best (2.9), so only experts 0 and 1 can win.
        #expect(route.experts == [0, 1])
        let total = logits.map { Foundation.exp($0) }.reduce(0, +)
        #expect(abs(route.weights[0] - 1.5 * Foundation.exp(3) / total) < 1e-6)
    }

    /// `--load-format dummy` builds the DeepSeek shape and runs it.
    @Test func dummyWeightsRunTheLiteShapeCutDown() throws {
        var config = try ModelConfig(huggingFaceConfig: Self.liteConfig)
        config.numLayers = 2
        config.vocabSize = 512
        config.hiddenSize = 256
        config.intermediateSize = 512
        config.experts?.numExperts = 8
        config.experts?.expertIntermediateSize = 64
        config.bosTokenID = nil
        config.eosTokenIDs = []
        let model = try TransformerModel(config: config, weights: DummyWeightSource(config: config))
        let runner = TinyModelParityTests.runner(model, tokens: 12, blockSize: 4)
        let logits = try runner.logits([1, 2, 3, 4, 5, 6], steps: [4, 1, 1])
        #expect(logits.count == 6 && logits.allSatisfy { $0.count == 512 && $0.allSatisfy(\.isFinite) })
    }
}
