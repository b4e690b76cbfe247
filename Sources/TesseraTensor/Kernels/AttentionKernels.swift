/// The two inner loops of attention over a run of keys/values of one head, `stride` floats
/// apart (a cache block, or the rows of a projection output).
///
/// They live here, beside `VectorOps`, so the SIMD helpers inline; the query and the output
/// stay in registers across keys, 64 columns at a time, instead of being reloaded per key.
package enum AttentionKernels {
    /// `scores[t] = q . keys[t]` for `t < count`; returns the largest score (-inf if none).
    package static func scores(
        query q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
        into scores: UnsafeMutablePointer<Float>
    ) -> Float {
        var column = 0
        var first = true
        while column < headDim {
            let width = min(64, headDim - column)
            let qc = q + column
            if width == 64 {
                let q0 = VectorOps.load16(qc, 0), q1 = VectorOps.load16(qc, 16)
                let q2 = VectorOps.load16(qc, 32), q3 = VectorOps.load16(qc, 48)
                for t in 0..<count {
                    let k = keys + t * stride + column
                    var acc = q0 * VectorOps.load16(k, 0)
                    acc += q1 * VectorOps.load16(k, 16)
                    acc += q2 * VectorOps.load16(k, 32)
                    acc += q3 * VectorOps.load16(k, 48)
                    let s = acc.sum()
                    scores[t] = first ? s : scores[t] + s
                }
            } else {
                for t in 0..<count {
                    let s = VectorOps.dot(qc, keys + t * stride + column, count: width)
                    scores[t] = first ? s : scores[t] + s
                }
            }
            first = false
            column += width
        }
        var best = -Float.infinity
        for t in 0..<count { best = max(best, scores[t]) }
        return best
    }

    /// `out += sum_t weights[t] * values[t]` for `t < count`.
    package static func accumulate(
        weights: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        var column = 0
        while column < headDim {
            let width = min(64, headDim - column)
            let o = out + column
            if width == 64 {
                var a0 = VectorOps.load16(o, 0), a1 = VectorOps.load16(o, 16)
                var a2 = VectorOps.load16(o, 32), a3 = VectorOps.load16(o, 48)
                for t in 0..<count {
                    let v = values + t * stride + column
                    let w = SIMD16<Float>(repeating: weights[t])
                    a0 += w * VectorOps.load16(v, 0)
                    a1 += w * VectorOps.load16(v, 16)
                    a2 += w * VectorOps.load16(v, 32)
                    a3 += w * VectorOps.load16(v, 48)
                }
                VectorOps.store16(a0, o, 0)
                VectorOps.store16(a1, o, 16)
                VectorOps.store16(a2, o, 32)
                VectorOps.store16(a3, o, 48)
            } else {
                for t in 0..<count {
                    VectorOps.axpy(weights[t], values + t * stride + column, o, count: width)
                }
            }
            column += width
        }
    }
}
