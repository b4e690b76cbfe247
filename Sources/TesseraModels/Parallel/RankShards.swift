import TesseraDistributed

/// Which part of every weight one rank holds under tensor parallelism.
///
/// - Query heads: the rank's `numHeads / tp` heads (``RankGrid/queryHeads(of:)``): rows of
///   `q_proj`, columns of `o_proj`.
/// - KV heads: split when `tp <= numKVHeads`, else the one head the rank shares with its CP
///   group (``RankGrid/kvHeads(of:)``): rows of `k_proj` and `v_proj`.
/// - MLP: a slice of the intermediate dimension, rows of `gate_proj`/`up_proj` and columns of
///   `down_proj`. The split need not be even: a row-parallel product is correct for any
///   partition of its inner dimension, so `intermediate_size` need not be a multiple of `tp`
///   (SmolLM2's 1536 over 9 ranks: slices of 170 and 171).
/// - Vocabulary: rows of the embedding and LM head in chunks of `ceil(vocab / tp)`, the last
///   rank(s) holding fewer (49152 over 9 ranks: eight of 5462, one of 5456). Equal chunks keep
///   the logits all-gather a plain collective of equal parts; padding rows are zeros.
package struct RankShards: Sendable, Equatable {
    package let rank: Int
    package let tp: Int
    package let queryHeads: Range<Int>
    package let kvHeads: Range<Int>
    package let intermediate: Range<Int>
    /// Vocabulary rows this rank stores; `vocabChunk` rows in the all-gather, the tail padding.
    package let vocab: Range<Int>
    package let vocabChunk: Int

    package init(model: ModelConfig, parallel: ParallelConfig, rank: Int) throws(ShardingError) {
        guard model.numHeads == parallel.numHeads, model.numKVHeads == parallel.numKVHeads else {
            throw .modelMismatch(modelHeads: model.numHeads, modelKVHeads: model.numKVHeads,
                                 parallelHeads: parallel.numHeads, parallelKVHeads: parallel.numKVHeads)
        }
        let tp = parallel.tp
        guard model.intermediateSize >= tp else {
            throw .tooFewToSplit(what: "intermediate_size", count: model.intermediateSize, tp: tp)
        }
        if let experts = model.experts, experts.expertIntermediateSize < tp {
            throw .tooFewToSplit(what: "moe_intermediate_size", count: experts.expertIntermediateSize, tp: tp)
        }
        let chunk = (model.vocabSize + tp - 1) / tp
        guard chunk * (tp - 1) < model.vocabSize else {
            // E.g. vocab 9 over 4 ranks: chunks of 3 leave the last rank nothing.
            throw .tooFewToSplit(what: "vocab_size", count: model.vocabSize, tp: tp)
        }
        let grid = RankGrid(parallel)
        self.rank = rank
        self.tp = tp
        queryHeads = grid.queryHeads(of: rank)
        kvHeads = grid.kvHeads(of: rank)
        intermediate = Self.balancedSplit(model.intermediateSize, parts: tp, index: rank)
        vocab = min(rank * chunk, model.vocabSize)..<min((rank + 1) * chunk, model.vocabSize)
        vocabChunk = chunk
    }

    /// The widest intermediate slice of any MLP on this rank: dense, routed expert or shared
    /// experts (each expert is split over the TP ranks like a dense MLP).
    package func feedForwardWidth(_ c: ModelConfig) -> Int {
        var widest = intermediate.count
        if let m = c.experts {
            for width in [m.expertIntermediateSize, m.sharedExperts * m.expertIntermediateSize] {
                widest = max(widest, Self.balancedSplit(width, parts: tp, index: rank).count)
            }
        }
        return widest
    }

    /// Part `index` of `0..<count` cut into `parts` consecutive ranges whose sizes differ by at most one.
    package static func balancedSplit(_ count: Int, parts: Int, index: Int) -> Range<Int> {
        (index * count / parts)..<((index + 1) * count / parts)
    }
}

/// Why a model's weights cannot be sharded over the ranks; every message names the values.
public enum ShardingError: Error, CustomStringConvertible, Equatable {
    case modelMismatch(modelHeads: Int, modelKVHeads: Int, parallelHeads: Int, parallelKVHeads: Int)
    /// Fewer rows or columns than ranks: some rank would hold nothing.
    case tooFewToSplit(what: String, count: Int, tp: Int)

    public var description: String {
        switch self {
        case let .modelMismatch(modelHeads, modelKVHeads, parallelHeads, parallelKVHeads):
            "the model has \(modelHeads) query heads and \(modelKVHeads) KV heads, but the parallel configuration "
                + "was validated for \(parallelHeads) query heads and \(parallelKVHeads) KV heads"
        case let .tooFewToSplit(what, count, tp):
            "\(what)=\(count) cannot be split over tp=\(tp) ranks: some rank would hold none of it"
        }
    }
}
