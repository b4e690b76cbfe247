import Foundation

/// Buffers one forward pass's attention reuses across layers, sized for the batch.
final class AttentionScratch: @unchecked Sendable {
    /// `[2, rows, numHeads, headDim]`: part 0 the query part's outputs, part 1 the context part's.
    let partials: FloatStorage
    /// `[2, rows, numHeads]`, natural-log LSEs of the two parts.
    let lses: FloatStorage
    let workers: [Worker]
    /// Dense path (`DenseAttention`): scores of one row chunk, and one KV head's gathered context.
    let denseScores: FloatStorage
    let denseContextKeys: FloatStorage
    let denseContextValues: FloatStorage

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

    init(rows: Int, numHeads: Int, headDim: Int, maxSequenceRows: Int, blockSize: Int, threads: Int,
         denseSpans: [SequenceSpan], denseRowChunk: Int) {
        let dense = DenseAttention.scratchSizes(for: denseSpans, headDim: headDim, rowChunk: denseRowChunk)
        denseScores = FloatStorage(count: dense.scores)
        denseContextKeys = FloatStorage(count: dense.context)
        denseContextValues = FloatStorage(count: dense.context)
        partials = FloatStorage(count: 2 * rows * numHeads * headDim)
        lses = FloatStorage(count: 2 * rows * numHeads)
        workers = (0..<max(1, threads)).map { _ in
            Worker(maxSequenceRows: maxSequenceRows, blockSize: blockSize, headDim: headDim)
        }
    }
}
