import Foundation
import TesseraDistributed

/// Buffers one forward pass's attention reuses across layers, sized for the batch.
///
/// `rows` is the batch's row count, `numHeads` the rank's query heads, `cpSize` its CP group size.
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

    /// Per-thread buffers, so the per-token loops never allocate.
    final class Worker: @unchecked Sendable {
        /// Scores of one query over the keys of one block or of the query part.
        let scores: FloatStorage
        /// Running max and sum of the context part's online softmax, one per row of a sequence.
        let runningMax: FloatStorage
        let runningSum: FloatStorage
        /// One block of keys / values of one KV head widened to f32 (unused for an f32 cache).
        let keys: FloatStorage
        let values: FloatStorage

        init(maxSequenceRows: Int, blockSize: Int, headDim: Int) {
            scores = FloatStorage(count: max(maxSequenceRows, blockSize))
            runningMax = FloatStorage(count: maxSequenceRows)
            runningSum = FloatStorage(count: maxSequenceRows)
            keys = FloatStorage(count: blockSize * headDim)
            values = FloatStorage(count: blockSize * headDim)
        }
    }

    init(rows: Int, numHeads: Int, headDim: Int, cpSize: Int, combine: CPCombine, maxSequenceRows: Int,
         blockSize: Int, threads: Int, dense: (scores: Int, context: Int)) {
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
        workers = (0..<max(1, threads)).map { _ in
            Worker(maxSequenceRows: maxSequenceRows, blockSize: blockSize, headDim: headDim)
        }
    }
}
