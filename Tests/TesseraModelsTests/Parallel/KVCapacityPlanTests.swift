import Foundation
import Testing
import TesseraDistributed
@testable import TesseraModels

@Suite struct KVCapacityPlanTests {
    /// The reference deployment of DESIGN.md: bf16 KV, block 16, 13,609,107,456 bytes per rank, 8192 tokens.
    private func referencePlan(model: ModelConfig, tp: Int = 2, cp: Int) throws -> KVCapacityPlan {
        try KVCapacityPlan(
            model: model, parallel: try ParallelConfig(tp: tp, cp: cp, model: model, blockSize: 16),
            budgetBytesPerRank: try MemorySize.parse("13609107456"), kvElementBytes: 2, maxModelLen: 8192)
    }

    @Test func reproducesTheReferenceTable() throws {
        let tp2 = try referencePlan(model: qwen3OneKV, cp: 1)
        #expect(tp2.kvHeadsPerRank == 1)
        #expect(tp2.bytesPerTokenPerRank == 28 * 2 * 128 * 2)
        #expect(tp2.blocksPerRank == 59_331)
        #expect(tp2.tokensPerRank == 949_296)
        #expect(tp2.tokensPerGroup == 949_296)
        #expect(String(format: "%.1f", tp2.maxConcurrency) == "115.9")
        #expect(MemorySize.format(tp2.usedBytesPerRank) == "12.67 GiB")

        let cp2 = try referencePlan(model: qwen3OneKV, cp: 2)
        #expect(cp2.tokensPerRank == 949_296)
        #expect(cp2.tokensPerGroup == 1_898_592)  // exactly 2x
        #expect(String(format: "%.1f", cp2.maxConcurrency) == "231.8")
        #expect(cp2.description
            == "KV cache: 1,898,592 tokens (949,296 per rank x cp=2), 12.67 GiB per rank, max concurrency 231.8x at 8192 tokens")
    }

    /// The example config, read by the Hugging Face config parser, is the shape the reference
    /// numbers are for, and gives them.
    @Test func exampleConfigGivesTheReferenceNumbers() throws {
        let url = examplesDirectory.appendingPathComponent("qwen3-0.6b-1kv/config.json")
        let model = try ModelConfig(huggingFaceConfig: url)
        #expect(model == qwen3OneKV)
        #expect(try referencePlan(model: model, cp: 1).tokensPerGroup == 949_296)
        #expect(try referencePlan(model: model, cp: 2).tokensPerGroup == 1_898_592)
        let raw = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(raw["architectures"] as? [String] == ["Qwen3ForCausalLM"])
        #expect(raw["torch_dtype"] as? String == "bfloat16")
    }

    @Test func splitKVHeadsAreStoredOnce() throws {
        // Eight KV heads over two ranks: four per rank, no duplication, nothing for CP to gain.
        var model = qwen3OneKV
        model.numKVHeads = 8
        let plan = try referencePlan(model: model, cp: 1)
        #expect(plan.kvHeadsPerRank == 4)
        #expect(plan.bytesPerTokenPerRank == 28 * 2 * 4 * 128 * 2)
        #expect(plan.tokensPerRank == 13_609_107_456 / (16 * plan.bytesPerTokenPerRank) * 16)
    }

    @Test func capacityGrowsWithCPUpToTheDuplication() throws {
        // One KV head on 8 ranks: duplicated 8 times; cp = 1, 2, 4, 8 multiply the capacity.
        let perRank = try referencePlan(model: qwen3OneKV, tp: 8, cp: 1).tokensPerRank
        for cp in [1, 2, 4, 8] {
            #expect(try referencePlan(model: qwen3OneKV, tp: 8, cp: cp).tokensPerGroup == perRank * cp)
        }
    }

    @Test func rejectsInvalidInputs() throws {
        let parallel = try ParallelConfig(tp: 2, model: qwen3OneKV, blockSize: 16)
        func failure(budget: Int = 1 << 30, elementBytes: Int = 2, maxLength: Int = 8192, model: ModelConfig = qwen3OneKV) -> String? {
            do {
                _ = try KVCapacityPlan(model: model, parallel: parallel, budgetBytesPerRank: budget,
                                       kvElementBytes: elementBytes, maxModelLen: maxLength)
                return nil
            } catch { return error.description }
        }
        #expect(failure(budget: -1) == "invalid KV cache budget per rank: -1 bytes")
        #expect(failure(elementBytes: 0) == "invalid KV element size: 0 bytes")
        #expect(failure(maxLength: 0) == "invalid max model length: 0")
        var other = qwen3OneKV
        other.numKVHeads = 2
        #expect(failure(model: other)
            == "the model has 16 query heads and 2 KV heads, but the parallel configuration was validated for 16 query heads and 1 KV heads")
        // A budget below one block is a plan with no room, not an error.
        let empty = try KVCapacityPlan(model: qwen3OneKV, parallel: parallel, budgetBytesPerRank: 1000,
                                       kvElementBytes: 2, maxModelLen: 8192)
        #expect(empty.blocksPerRank == 0 && !empty.fitsOneSequence)
    }
}
