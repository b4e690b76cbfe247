import Foundation
import Testing
import TestSupport
import TesseraDistributed
@testable import TesseraModels
import TesseraTensor

/// Which rows and columns each rank loads, and the loaders' column slices.
@Suite("Weight sharding")
struct ShardingTests {
    @Test(arguments: [(1536, 9), (128, 8), (40, 3), (7, 7), (1000, 3)])
    func balancedSplitsPartitionTheRange(count: Int, parts: Int) {
        let ranges = (0..<parts).map { RankShards.balancedSplit(count, parts: parts, index: $0) }
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
        for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        let sizes = Set(ranges.map(\.count))
        #expect(sizes.max()! - sizes.min()! <= 1)
    }

    @Test func vocabularyChunksArePaddedNotBalanced() throws {
        var config = RandomWeights.config(heads: 4, kvHeads: 1)
        config.vocabSize = 1000
        let parallel = try ParallelConfig(tp: 4, cp: 2, model: config, blockSize: 8)
        let shards = try (0..<4).map { try RankShards(model: config, parallel: parallel, rank: $0) }
        #expect(shards.map(\.vocab) == [0..<250, 250..<500, 500..<750, 750..<1000])
        config.vocabSize = 1001
        let uneven = try (0..<4).map { try RankShards(model: config, parallel: parallel, rank: $0) }
        #expect(uneven.map(\.vocab) == [0..<251, 251..<502, 502..<753, 753..<1001])
        #expect(uneven.allSatisfy { $0.vocabChunk == 251 })
    }

    @Test func shapesThatCannotBeShardedAreNamed() throws {
        var config = RandomWeights.config(heads: 4, kvHeads: 1)
        let parallel = try ParallelConfig(tp: 4, model: config, blockSize: 8)
        config.vocabSize = 9
        #expect(throws: ShardingError.tooFewToSplit(what: "vocab_size", count: 9, tp: 4)) {
            try RankShards(model: config, parallel: parallel, rank: 0)
        }
        #expect(ShardingError.tooFewToSplit(what: "vocab_size", count: 9, tp: 4).description
            == "vocab_size=9 cannot be split over tp=4 ranks: some rank would hold none of it")
        config.vocabSize = 61
        config.intermediateSize = 3
        #expect(throws: ShardingError.tooFewToSplit(what: "intermediate_size", count: 3, tp: 4)) {
            try RankShards(model: config, parallel: parallel, rank: 0)
        }
        config.intermediateSize = 40
        config.numKVHeads = 2
        #expect(throws: ShardingError.modelMismatch(modelHeads: 4, modelKVHeads: 2, parallelHeads: 4, parallelKVHeads: 1)) {
            try RankShards(model: config, parallel: parallel, rank: 0)
        }
    }

    /// Duplicated KV heads: consecutive ranks share one; split heads: each rank its own.
    @Test func kvHeadsAreSplitOrShared() throws {
        let config = RandomWeights.config(heads: 8, kvHeads: 2)
        let split = try ParallelConfig(tp: 2, model: config, blockSize: 8)
        #expect(try (0..<2).map { try RankShards(model: config, parallel: split, rank: $0).kvHeads } == [0..<1, 1..<2])
        let shared = try ParallelConfig(tp: 8, cp: 2, model: config, blockSize: 8)
        #expect(try (0..<8).map { try RankShards(model: config, parallel: shared, rank: $0).kvHeads.lowerBound }
            == [0, 0, 0, 0, 1, 1, 1, 1])
    }

    /// A source that only has the protocol's default column slicing.
    struct DefaultSlicing: WeightSource {
        let base: any WeightSource
        var tensorInfos: [String: TensorInfo] { base.tensorInfos }
        func load(_ name: String) throws -> Tensor { try base.load(name) }
        func load(_ name: String, rows: Range<Int>) throws -> Tensor { try base.load(name, rows: rows) }
    }

    static func slice(_ t: Tensor, rows: Range<Int>, columns: Range<Int>) -> [Float] {
        let width = t.shape.dropFirst().reduce(1, *)
        return rows.flatMap { r in t.data[r * width + columns.lowerBound..<r * width + columns.upperBound] }
    }

    static func checkColumnSlices(_ source: any WeightSource, names: [String]) throws {
        for name in names {
            let full = try source.load(name)
            let rowCount = full.shape[0], width = full.count / rowCount
            for (rows, columns) in [(0..<rowCount, 0..<width), (3..<rowCount - 1, 5..<width / 3), (1..<2, width - 7..<width)] {
                let expected = slice(full, rows: rows, columns: columns)
                let overridden = try source.load(name, rows: rows, columns: columns)
                let byDefault = try DefaultSlicing(base: source).load(name, rows: rows, columns: columns)
                #expect(overridden.shape == [rows.count, columns.count] && overridden.data == expected, "\(name) \(rows) \(columns)")
                #expect(byDefault.shape == [rows.count, columns.count] && byDefault.data == expected, "\(name) \(rows) \(columns)")
            }
        }
    }

    @Test func safetensorsColumnSlicesMatchTheFullTensor() throws {
        let files = try ModelFiles.open(Fixtures.url("models/tiny-llama-1kv"))
        try Self.checkColumnSlices(files.weights, names: ["model.layers.0.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight"])
        #expect(throws: WeightSliceError.outOfRange(tensor: "model.layers.0.self_attn.o_proj.weight", rows: 0..<2, columns: 60..<65, shape: [64, 64])) {
            try files.weights.load("model.layers.0.self_attn.o_proj.weight", rows: 0..<2, columns: 60..<65)
        }
        #expect(throws: WeightSliceError.self) {
            try DefaultSlicing(base: files.weights).load("model.layers.0.self_attn.o_proj.weight", rows: 0..<65, columns: 0..<1)
        }
    }

    /// Q4_1 blocks of 32 straddle the slices' edges; Q rows are stored permuted.
    @Test func ggufColumnSlicesMatchTheFullTensor() throws {
        let files = try ModelFiles.open(try Fixtures.smolLM2())
        try Self.checkColumnSlices(files.weights, names: ["model.layers.0.self_attn.q_proj.weight", "model.layers.2.mlp.down_proj.weight"])
    }

    /// A rank's weights are the rows and columns of the whole model's that `RankShards` names.
    @Test func rankWeightsAreSlicesOfTheWholeModel() throws {
        let files = try ModelFiles.open(Fixtures.url("models/tiny-qwen3"))
        let config = files.config
        let whole = try TransformerModel(config: config, weights: files.weights)
        let parallel = try ParallelConfig(tp: 4, cp: 2, model: config, blockSize: 8)
        let outcome = withDeadline(seconds: 30) {
            try RankLauncher.run(world: InProcessWorld(grid: RankGrid(parallel))) { comms in
                let rank = try RankContext(parallel: parallel, rank: comms.rank, tp: comms.tp, cp: comms.cp)
                let model = try TransformerModel(config: config, weights: files.weights, rank: rank)
                let w = model.weights
                return (model.shards, w.embedding.array, w.lmHead === w.embedding, w.layers[1].grouped!.output.array,
                        w.layers[1].dense!.down.array, w.layers[1].grouped!.qkv.array, w.layers[1].dense!.gateUp.array)
            }
        }
        guard case .success(let ranks)? = outcome else {
            Issue.record("\(String(describing: outcome))")
            return
        }
        let hd = config.headDim, h = config.hiddenSize
        let full = whole.weights.layers[1]
        let (fullAttention, fullMLP) = (full.grouped!, full.dense!)
        let fullO = Tensor(shape: [h, config.qDim], data: fullAttention.output.array)
        let fullDown = Tensor(shape: [h, config.intermediateSize], data: fullMLP.down.array)
        let fullQKV = Tensor(shape: [config.qDim + 2 * config.kvDim, h], data: fullAttention.qkv.array)
        let fullGateUp = Tensor(shape: [2 * config.intermediateSize, h], data: fullMLP.gateUp.array)
        let fullEmbedding = Tensor(shape: [config.vocabSize, h], data: whole.weights.embedding.array)
        for (shards, embedding, tied, output, down, qkv, gateUp) in ranks {
            let q = shards.queryHeads.lowerBound * hd..<shards.queryHeads.upperBound * hd
            let kv = shards.kvHeads.lowerBound * hd..<shards.kvHeads.upperBound * hd
            let m = shards.intermediate
            #expect(tied)  // tiny-qwen3 ties its embeddings
            #expect(embedding == Self.slice(fullEmbedding, rows: shards.vocab, columns: 0..<h))
            #expect(output == Self.slice(fullO, rows: 0..<h, columns: q))
            #expect(down == Self.slice(fullDown, rows: 0..<h, columns: m))
            let kRows = config.qDim + kv.lowerBound..<config.qDim + kv.upperBound
            let vRows = config.qDim + config.kvDim + kv.lowerBound..<config.qDim + config.kvDim + kv.upperBound
            #expect(qkv == Self.slice(fullQKV, rows: q, columns: 0..<h) + Self.slice(fullQKV, rows: kRows, columns: 0..<h)
                + Self.slice(fullQKV, rows: vRows, columns: 0..<h))
            let upRows = config.intermediateSize + m.lowerBound..<config.intermediateSize + m.upperBound
            #expect(gateUp == Self.slice(fullGateUp, rows: m, columns: 0..<h) + Self.slice(fullGateUp, rows: upRows, columns: 0..<h))
        }
    }
}
