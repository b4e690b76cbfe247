import CTesseraKernels
import Foundation

/// Attention of a group of query rows that all read the same KV head (the query heads of a
/// grouped-query group, over every row of a sequence and every rank of a CP group) over one
/// tile of that head's keys/values, `stride` floats apart.
///
/// Every key and value of the tile is loaded once per pair of query rows from L1, instead of
/// once per query head from memory (and widened once per KV head instead of once per query
/// head): decode attention then streams the cache once per KV head.
///
/// Rows are `headDim` floats apart in `queries` and `out`; scores `scoreStride` apart.
package enum GroupedAttentionKernels {
    /// One online-softmax step over a tile: scores of every row against the tile's keys, the
    /// running max/sum of each row updated (its output rescaled when its max grows), then the
    /// tile's values accumulated into `out` with the unnormalised weights.
    ///
    /// `scores` holds `rows * scoreStride` floats (`scoreStride >= count`). A row's running max
    /// starts at -inf and its sum at 0 with its output all zeros.
    package static func attendTile(
        queries: UnsafePointer<Float>, rows: Int, headDim: Int,
        keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int,
        scores: UnsafeMutablePointer<Float>, scoreStride: Int,
        runningMax: UnsafeMutablePointer<Float>, runningSum: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) {
        guard count > 0, rows > 0 else { return }
        computeScores(queries: queries, rows: rows, headDim: headDim, keys: keys, stride: stride, count: count,
                      into: scores, scoreStride: scoreStride)
        for r in 0..<rows {
            let s = scores + r * scoreStride
            let previous = runningMax[r]
            let newMax = Swift.max(previous, VectorOps.max(s, count: count))
            guard newMax > -.infinity else {
                s.update(repeating: 0, count: count)
                continue
            }
            if newMax > previous && previous > -.infinity {
                let correction = expf(previous - newMax)
                VectorOps.scale(out + r * headDim, by: correction, count: headDim)
                runningSum[r] *= correction
            }
            runningMax[r] = newMax
            runningSum[r] += Softmax.exponentiate(s, count: count, shift: newMax)
        }
        accumulate(weights: scores, weightStride: scoreStride, rows: rows, values: values, stride: stride,
                   count: count, headDim: headDim, into: out)
    }

    /// `scores[r * scoreStride + t] = q_r . k_t`, by the C kernel of the instruction-set level
    /// in use (FMA on 8 or 16 lanes, four rows against two keys at a time).
    package static func computeScores(
        queries q: UnsafePointer<Float>, rows: Int, headDim hd: Int,
        keys: UnsafePointer<Float>, stride: Int, count: Int,
        into scores: UnsafeMutablePointer<Float>, scoreStride: Int
    ) {
        tk_attn_scores(q, Int64(rows), Int64(hd), keys, Int64(stride), Int64(count), scores, Int64(scoreStride))
    }

    /// `out[r * headDim + d] += sum_t weights[r * weightStride + t] * values[t * stride + d]`,
    /// by the C kernel of the level in use (four rows, 16 or 32 columns kept in registers
    /// across the tile's values).
    package static func accumulate(
        weights w: UnsafePointer<Float>, weightStride: Int, rows: Int,
        values: UnsafePointer<Float>, stride: Int, count: Int, headDim hd: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        tk_attn_accumulate(w, Int64(weightStride), Int64(rows), values, Int64(stride), Int64(count), Int64(hd), out)
    }
}
