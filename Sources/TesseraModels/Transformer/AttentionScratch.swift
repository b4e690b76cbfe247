import Foundation
import TesseraDistributed
import TesseraTensor

/// Buffers one forward pass's attention reuses across layers, sized for the batch.
///
/// `rows` is the batch's row count, `numHeads` the rank's query heads, `cpSize` its CP group size.
/// No size depends on the cache's block size: the per-row context part reads
/// `Attention.contextTile` keys per tile, gathered across blocks.
final class AttentionScratch: @unchecked Sendable {
    /// `[2, rows, numHeads, headDim]`: part 0 the query part's outputs, part 1 the context
    /// part's (after the CP combine: over the whole sequence's context, for this rank's heads).
    let partials: FloatStorage
    /// `[2, rows, numHeads]`, natural-log LSEs of the two parts.
    let lses: FloatStorage
    let workers: [Worker]
    /// Dense path (`DenseAttention`): scores of one row chunk, and one KV head's gathered context.
    let denseScores: FloatStorage
    let denseContextKeys: FloatStorage
    let denseContextValues: FloatStorage

    /// CP only (empty on a lone rank): this rank's queries packed `[rows, numHeads, headDim]`
    /// and the group's, gathered rank-major `[cp, rows, numHeads, headDim]`.
    let localQueries: FloatStorage
    let groupQueries: FloatStorage
    /// CP only: the context partials for every head of the group, the combine's send buffer.
    /// All-gather/reduce-scatter: outputs `[cp, rows, numHeads, headDim]`, LSEs separately in
    /// `contextLSEs` `[cp, rows, numHeads]`. All-to-all: `cp` chunks of outputs then LSEs.
    let combineSend: FloatStorage
    let contextLSEs: FloatStorage
    /// CP only: all-gathered LSEs `[cp (sender), cp, rows, numHeads]`, or the all-to-all's receive buffer.
    let combineReceive: FloatStorage

    /// Context partials of the units whose context is split across workers (`Attention`'s
    /// grouped context part): per unit and chunk, `[groupRows, headDim]` outputs then
    /// `groupRows` LSEs. Grown on the calling thread before the workers start.
    private(set) var chunkPartials = FloatStorage(count: 0)

    /// Makes `chunkPartials` hold at least `count` floats.
    func reserveChunkPartials(_ count: Int) {
        if chunkPartials.count < count { chunkPartials = FloatStorage(count: count) }
    }

    /// Per-thread buffers, so the per-token loops never allocate.
    final class Worker: @unchecked Sendable {
        /// Scores of one query over the keys of the query part.
        let scores: FloatStorage
        /// The grouped context part's rows (every query row that reads one KV head): their
        /// queries packed `[groupRows, headDim]`, unnormalised outputs `[groupRows, headDim]`,
        /// scores over one tile `[groupRows, tile]`, and online-softmax running max and sum;
        /// one tile of a KV head's keys and values as f32 `[tile, headDim]`.
        private(set) var tileKeys = FloatStorage(count: 0)
        private(set) var tileValues = FloatStorage(count: 0)
        private(set) var groupQueries = FloatStorage(count: 0)
        private(set) var groupOutputs = FloatStorage(count: 0)
        private(set) var groupScores = FloatStorage(count: 0)
        private(set) var runningMax = FloatStorage(count: 0)
        private(set) var runningSum = FloatStorage(count: 0)

        init(maxSequenceRows: Int) {
            scores = FloatStorage(count: maxSequenceRows)
        }

        /// Sizes the group buffers for `groupRows` rows and tiles of `tile` keys; called on
        /// the calling thread before the workers start.
        func reserve(groupRows: Int, headDim: Int, tile: Int) {
            if groupQueries.count < groupRows * headDim {
                groupQueries = FloatStorage(count: groupRows * headDim)
                groupOutputs = FloatStorage(count: groupRows * headDim)
            }
            if groupScores.count < groupRows * tile { groupScores = FloatStorage(count: groupRows * tile) }
            if tileKeys.count < tile * headDim {
                tileKeys = FloatStorage(count: tile * headDim)
                tileValues = FloatStorage(count: tile * headDim)
            }
            if runningMax.count < groupRows {
                runningMax = FloatStorage(count: groupRows)
                runningSum = FloatStorage(count: groupRows)
            }
        }
    }

    /// The threads the per-row attention runs on (one `Worker` scratch per pool thread).
    let pool: ThreadPool

    init(rows: Int, numHeads: Int, headDim: Int, cpSize: Int, combine: CPCombine, maxSequenceRows: Int,
         pool: ThreadPool, dense: (scores: Int, context: Int)) {
        self.pool = pool
        denseScores = FloatStorage(count: dense.scores)
        denseContextKeys = FloatStorage(count: dense.context)
        denseContextValues = FloatStorage(count: dense.context)
        let qFloats = rows * numHeads * headDim
        let lseFloats = rows * numHeads
        partials = FloatStorage(count: 2 * qFloats)
        lses = FloatStorage(count: 2 * lseFloats)
        let grouped = cpSize > 1
        localQueries = FloatStorage(count: grouped ? qFloats : 0)
        groupQueries = FloatStorage(count: grouped ? cpSize * qFloats : 0)
        switch (grouped, combine) {
        case (false, _):
            combineSend = FloatStorage(count: 0)
            contextLSEs = FloatStorage(count: 0)
            combineReceive = FloatStorage(count: 0)
        case (true, .allGatherReduceScatter):
            combineSend = FloatStorage(count: cpSize * qFloats)
            contextLSEs = FloatStorage(count: cpSize * lseFloats)
            combineReceive = FloatStorage(count: cpSize * cpSize * lseFloats)
        case (true, .allToAll):
            combineSend = FloatStorage(count: cpSize * (qFloats + lseFloats))
            contextLSEs = FloatStorage(count: 0)
            combineReceive = FloatStorage(count: cpSize * (qFloats + lseFloats))
        }
        workers = (0..<pool.threads).map { _ in
            Worker(maxSequenceRows: maxSequenceRows)
        }
    }
}
