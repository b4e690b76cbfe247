import Foundation
import TesseraDistributed
import TesseraTensor

/// The forward pass of the Llama family (SmolLM2, Llama, Mistral-style GQA) and Qwen3
/// over a paged KV cache, on one rank of a tensor- and context-parallel group
/// (`RankContext`); a single rank is a group of one running the same code.
///
/// Every rank of the group builds its own model (loading only its shard of the weights,
/// `RankShards`) and cache, and calls `forward` with the same batches in the same order; the
/// collectives inside keep them in step, and every rank returns the same full logits.
///
/// Immutable after init; `forward` allocates its scratch per call, so concurrent calls with
/// different caches are safe on a single rank (a parallel rank's collectives must of course be
/// called in the same order on every rank).
public final class TransformerModel: @unchecked Sendable {
    public let config: ModelConfig
    public let rank: RankContext
    /// What this rank holds of each weight.
    package let shards: RankShards
    let weights: TransformerWeights
    let attention: Attention
    let inverseFrequencies: [Float]
    /// The threads this rank's products of stored (quantised, f16, bf16) weights and its
    /// per-row attention run on: its share of the CPUs this process may use (`KernelSettings`).
    let pool: ThreadPool

    /// One rank: loads every weight (linear layers in the file's element type, unless `source` is
    /// `DequantizedWeights`) and checks its shape; errors name the offending tensor.
    public convenience init(config: ModelConfig, weights source: any WeightSource) throws {
        try self.init(config: config, weights: source, rank: nil, denseAttentionThreshold: nil)
    }

    /// Rank `rank.rank` of a parallel group: loads this rank's shard of every weight.
    ///
    /// When other ranks share this machine's cores (`rank.ranksSharingCores > 1`: thread ranks
    /// with `tp > 1`, or several `mpirun` processes on one node) this pins OpenBLAS to one
    /// thread (`BLAS.setThreads(1)`, process-wide): every rank calls sgemm/sgemv, and OpenBLAS's
    /// own threads on top of them would oversubscribe the cores many times over. A process
    /// rank alone on its machine keeps all its cores.
    public convenience init(config: ModelConfig, weights source: any WeightSource, rank: RankContext) throws {
        try self.init(config: config, weights: source, rank: rank, denseAttentionThreshold: nil)
    }

    /// `denseAttentionThreshold`: rows from which a sequence's attention uses sgemm, and
    /// `denseRowChunk` the query rows per product (tests set them to run every attention path
    /// on the same inputs); nil keeps the defaults. `rank` nil: a single rank.
    init(config: ModelConfig, weights source: any WeightSource, rank: RankContext? = nil,
         denseAttentionThreshold: Int?, denseRowChunk: Int? = nil) throws {
        try Self.validate(config)
        let rank = try rank ?? RankContext.single(model: config)
        let shards = try RankShards(model: config, parallel: rank.parallel, rank: rank.rank)
        if rank.ranksSharingCores > 1 { BLAS.setThreads(1) }
        self.config = config
        self.rank = rank
        self.shards = shards
        weights = try TransformerWeights(config: config, source: source, shards: shards)
        var attention = Attention(numHeads: shards.queryHeads.count, numKVHeads: shards.kvHeads.count,
                                  headDim: config.headDim, placement: rank.placement, cpRank: rank.cpRank)
        attention.window = config.slidingWindow
        if let threshold = denseAttentionThreshold { attention.denseThreshold = threshold }
        if let chunk = denseRowChunk { attention.denseRowChunk = max(1, chunk) }
        self.attention = attention
        inverseFrequencies = config.rotaryInverseFrequencies
        pool = ThreadPool(threads: KernelSettings.threads(sharedBy: rank.ranksSharingCores))
    }

    /// The softmax scale: `1/sqrt(headDim)`, or for latent attention `1/sqrt(nope + rope)`
    /// (the head width before absorption) times YaRN's `mscale^2` (DeepSeek's reference code,
    /// vLLM, llama.cpp and transformers 5 all apply it).
    var softmaxScale: Float {
        guard let m = config.latentAttention else { return 1 / Float(config.headDim).squareRoot() }
        return Float((1 / Double(m.queryHeadDim).squareRoot()) * (config.yarn?.softmaxScale ?? 1))
    }

    static func validate(_ c: ModelConfig) throws {
        func fail(_ why: String) -> TransformerError { .invalidConfig(why) }
        for (name, value) in [
            ("vocabSize", c.vocabSize), ("hiddenSize", c.hiddenSize), ("intermediateSize", c.intermediateSize),
            ("numLayers", c.numLayers), ("numHeads", c.numHeads), ("numKVHeads", c.numKVHeads), ("headDim", c.headDim),
        ] where value <= 0 {
            throw fail("\(name)=\(value) must be positive")
        }
        guard c.numHeads % c.numKVHeads == 0 else {
            throw fail("numHeads=\(c.numHeads) must be a multiple of numKVHeads=\(c.numKVHeads)")
        }
        guard c.headDim % 2 == 0 else { throw fail("headDim=\(c.headDim) must be even for rotary") }
        guard c.ropeTheta > 0 else { throw fail("ropeTheta=\(c.ropeTheta) must be positive") }
    }

    /// Runs the batch and returns logits `[logitIndices.count, vocabSize]` (the full
    /// vocabulary, on every rank). The new tokens' K/V go into `cache` on the rank of the CP
    /// group that owns them (`KVPlacement`), at local slot
    /// `blockTable[localIndex / blockSize] * blockSize + localIndex % blockSize`; with cp = 1
    /// the local index is the position.
    ///
    /// The batch must be the same on every rank: global positions, `contextLength` the cached
    /// tokens of the sequence (global count), block tables of logical blocks of
    /// `blockSize * cp` tokens. A collective failing on any rank ends the call with an error
    /// on every rank.
    public func forward(_ batch: ForwardBatch, cache: PagedKVCache) throws -> Tensor {
        try validate(batch, cache: cache)
        let c = config
        let n = batch.tokens.count
        let logitRows = batch.logitIndices.count
        guard n > 0 else { return Tensor(zeros: [logitRows, c.vocabSize]) }

        let maxSequenceRows = batch.sequences.map(\.tokenRange.count).max() ?? 0
        let ws = Workspace(config: c, shards: shards, rows: n)
        let attentionScratch = AttentionScratch(
            rows: n, numHeads: attention.numHeads, headDim: c.headDim, cpSize: attention.cpSize, combine: rank.cpCombine,
            maxSequenceRows: maxSequenceRows, pool: pool,
            dense: DenseAttention.scratchSizes(for: batch.sequences, attention: attention))
        var (cosines, sines) = Rotary.table(positions: batch.positions, inverseFrequencies: inverseFrequencies)
        if let yarn = c.yarn, yarn.rotaryScale != 1 {
            let scale = Float(yarn.rotaryScale)
            cosines = cosines.map { $0 * scale }
            sines = sines.map { $0 * scale }
        }

        try embed(batch.tokens, into: ws.residual.pointer)
        try cosines.withUnsafeBufferPointer { cosBuffer in
            try sines.withUnsafeBufferPointer { sinBuffer in
                let context = LayerContext(
                    rows: n, batch: batch, cache: cache, ws: ws, attentionScratch: attentionScratch,
                    cos: cosBuffer.baseAddress!, sin: sinBuffer.baseAddress!, qScale: softmaxScale)
                for (index, layer) in weights.layers.enumerated() {
                    try runLayer(index, layer, context)
                }
            }
        }
        return try logits(residual: ws.residual.pointer, rows: batch.logitIndices)
    }
}

/// Activations of one forward pass on one rank, reused by every layer.
final class Workspace {
    let residual: FloatStorage    // [rows, hidden], identical on every rank
    let normed: FloatStorage      // [rows, hidden]
    let qkv: FloatStorage         // [rows, (hq + 2 hkv) headDim], this rank's heads
    let attention: FloatStorage   // [rows, hq headDim]
    let gateUp: FloatStorage      // [rows, 2 width], width the widest MLP slice of the rank
    let activation: FloatStorage  // [rows, width]
    /// [rows, hidden]: a row-parallel projection's partial product, then its sum over TP.
    let projected: FloatStorage

    init(config c: ModelConfig, shards: RankShards, rows n: Int) {
        let qDim = shards.queryHeads.count * c.headDim
        let kvDim = shards.kvHeads.count * c.headDim
        let slice = shards.feedForwardWidth(c)
        residual = FloatStorage(count: n * c.hiddenSize)
        normed = FloatStorage(count: n * c.hiddenSize)
        qkv = FloatStorage(count: n * (qDim + 2 * kvDim))
        attention = FloatStorage(count: n * qDim)
        gateUp = FloatStorage(count: n * 2 * slice)
        activation = FloatStorage(count: n * slice)
        projected = FloatStorage(count: n * c.hiddenSize)
    }
}
