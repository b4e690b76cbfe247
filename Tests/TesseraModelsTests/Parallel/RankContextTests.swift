import Testing
import TesseraDistributed
@testable import TesseraModels

@Suite("Rank context")
struct RankContextTests {
    @Test func communicatorsMustBeThoseOfTheRank() throws {
        let parallel = try ParallelConfig(tp: 4, cp: 2, numHeads: 8, numKVHeads: 1, blockSize: 16)
        let world = InProcessWorld(grid: RankGrid(parallel))
        let comms = world.communicators(rank: 3)
        let context = try RankContext(parallel: parallel, rank: 3, tp: comms.tp, cp: comms.cp)
        #expect(context.cpRank == 1 && context.placement == KVPlacement(cp: 2, interleave: 1) && context.cpCombine == .allGatherReduceScatter)
        #expect(throws: RankContextError.rankOutOfRange(rank: 4, tp: 4)) {
            try RankContext(parallel: parallel, rank: 4, tp: comms.tp, cp: comms.cp)
        }
        #expect(throws: RankContextError.wrongGroup(group: "TP", rank: 2, expectedSize: 4, expectedRank: 2, size: 4, groupRank: 3)) {
            try RankContext(parallel: parallel, rank: 2, tp: comms.tp, cp: comms.cp)
        }
        let other = world.communicators(rank: 2)
        #expect(throws: RankContextError.wrongGroup(group: "CP", rank: 3, expectedSize: 2, expectedRank: 1, size: 2, groupRank: 0)) {
            try RankContext(parallel: parallel, rank: 3, tp: comms.tp, cp: other.cp)
        }
        #expect(RankContextError.wrongGroup(group: "CP", rank: 3, expectedSize: 2, expectedRank: 1, size: 2, groupRank: 0).description
            == "rank 3: the CP communicator has size 2 and rank 0, expected size 2 and rank 1")
    }

    @Test func singleRankIsAWorldOfOne() throws {
        let model = RandomWeights.config(heads: 4, kvHeads: 2)
        let single = try RankContext.single(model: model)
        #expect(single.parallel.tp == 1 && single.parallel.cp == 1 && single.rank == 0)
        #expect(single.tp.size == 1 && single.cp.size == 1)
        let transformer = try TransformerModel(config: model, weights: RandomWeights(config: model))
        #expect(transformer.rank.parallel.tp == 1)
        #expect(transformer.shards.queryHeads == 0..<4 && transformer.shards.kvHeads == 0..<2)
    }

    @Test func cacheHoldsTheRanksKVHeads() throws {
        let model = RandomWeights.config(heads: 8, kvHeads: 2)
        let parallel = try ParallelConfig(tp: 8, cp: 4, model: model, blockSize: 4)
        let world = InProcessWorld(grid: RankGrid(parallel))
        let comms = world.communicators(rank: 5)
        let rank = try RankContext(parallel: parallel, rank: 5, tp: comms.tp, cp: comms.cp)
        let cache = PagedKVCache(config: model, numBlocks: 3, blockSize: 4, dtype: .bf16, rank: rank)
        #expect(cache.numKVHeads == 1 && cache.slotWidth == model.headDim && cache.capacity == 12)
        #expect(cache.totalBytes == 12 * 2 * model.numLayers * model.headDim * 2)
        let split = try ParallelConfig(tp: 2, model: model, blockSize: 4)
        let one = PagedKVCache(config: model, numBlocks: 1, blockSize: 4, dtype: .f32,
                               rank: try RankContext(parallel: split, rank: 1,
                                                     tp: InProcessGroup(size: 2).communicator(rank: 1),
                                                     cp: SingleRankCommunicator()))
        #expect(one.numKVHeads == 1)
    }

    @Test func referenceConfigurationsFromAModel() throws {
        let tp2 = try ParallelConfig(tp: 2, model: qwen3OneKV, blockSize: 16)
        #expect((tp2.tp, tp2.cp, tp2.cpInterleave, tp2.numHeads, tp2.numKVHeads) == (2, 1, 1, 16, 1))
        let cp2 = try ParallelConfig(tp: 2, cp: 2, cpInterleave: 4, model: qwen3OneKV, blockSize: 16)
        #expect(cp2.description == "tp=2 cp=2 cp_interleave=4 (16 query heads, 1 KV heads, block_size=16)")
    }
}
