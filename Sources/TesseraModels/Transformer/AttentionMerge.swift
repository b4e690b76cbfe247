import Foundation

/// Exact merge of attention partials by their log-sum-exp, the one piece of math context
/// parallelism rests on.
///
/// A partial is the softmax attention of a query over one slice of the keys: an output `o_p`
/// (already normalised within its slice) and `lse_p = log(sum over the slice of exp(score))`,
/// natural log. Over the union of the slices:
/// `m = max_p lse_p`, `lse = m + log(sum_p exp(lse_p - m))`, `o = sum_p o_p * exp(lse_p - lse)`
/// (evaluated as `exp(lse_p - m) / sum`, see `Normaliser`).
/// An empty slice has `lse_p = -inf` and weight 0 (its output is never read, so it may hold
/// anything); when every slice is empty the output is 0 and `lse = -inf`. LSEs must be finite
/// or `-inf`. All arithmetic is f32.
package enum AttentionMerge {
    /// What the merge of a set of LSEs needs: their max `m` and `sum_p exp(lse_p - m)`.
    ///
    /// Weights are formed as `exp(lse_p - m) / sum` rather than `exp(lse_p - lse)`: the
    /// difference `lse_p - m` is exact for close values, whereas `lse` rounded to f32 at a
    /// magnitude like 1e4 is off by 1e-3, which would skew every weight by as much.
    package struct Normaliser: Sendable, Equatable {
        package let max: Float
        package let sum: Float

        /// The combined natural-log LSE, `-inf` when every part is empty.
        package var lse: Float { sum > 0 ? max + logf(sum) : -.infinity }

        /// Weight of a part with LSE `lse` in the merged output; 0 for an empty part.
        @inline(__always)
        package func weight(of lse: Float) -> Float {
            lse > -.infinity && sum > 0 ? expf(lse - max) / sum : 0
        }
    }

    /// The normaliser of `count` LSEs `stride` apart.
    @inline(__always)
    package static func normaliser(_ lses: UnsafePointer<Float>, stride: Int = 1, count: Int) -> Normaliser {
        var m = -Float.infinity
        for p in 0..<count { m = Swift.max(m, lses[p * stride]) }
        guard m > -.infinity else { return Normaliser(max: m, sum: 0) }
        var sum: Float = 0
        for p in 0..<count {
            let l = lses[p * stride]
            if l > -.infinity { sum += expf(l - m) }
        }
        return Normaliser(max: m, sum: sum)
    }

    /// Merges `parts` sets of partials. Partial `p` of row `r` is the `dim` floats at
    /// `outputs + p * partStride + r * dim` with LSE `lses[p * lseStride + r]`; rows are
    /// (token, head) pairs. Writes the merged rows to `into + r * dim` (which may alias part 0)
    /// and, when given, the merged LSEs to `lseOut[r]`.
    package static func merge(
        outputs: UnsafePointer<Float>, partStride: Int,
        lses: UnsafePointer<Float>, lseStride: Int,
        parts: Int, rows: Int, dim: Int,
        into out: UnsafeMutablePointer<Float>, lseOut: UnsafeMutablePointer<Float>? = nil
    ) {
        for r in 0..<rows {
            let norm = normaliser(lses + r, stride: lseStride, count: parts)
            lseOut?[r] = norm.lse
            let dst = out + r * dim
            guard norm.sum > 0 else {
                dst.update(repeating: 0, count: dim)
                continue
            }
            // Accumulate in place: the first contributing part initialises `dst`, which is
            // safe when `dst` aliases part 0 because part 0 is then read before being written.
            var first = true
            for p in 0..<parts {
                let l = lses[p * lseStride + r]
                guard l > -.infinity else { continue }
                let weight = norm.weight(of: l)
                let src = outputs + p * partStride + r * dim
                if first {
                    for i in 0..<dim { dst[i] = src[i] * weight }
                    first = false
                } else {
                    for i in 0..<dim { dst[i] += src[i] * weight }
                }
            }
        }
    }

    /// Array form for callers off the hot path: merges partial outputs (each `dim` values) by
    /// their LSEs.
    package static func merge(outputs: [[Float]], lses: [Float]) -> (output: [Float], lse: Float) {
        precondition(outputs.count == lses.count, "\(outputs.count) outputs but \(lses.count) LSEs")
        let dim = outputs.first?.count ?? 0
        precondition(outputs.allSatisfy { $0.count == dim }, "partial outputs differ in length")
        let flat = outputs.flatMap { $0 }
        var result = [Float](repeating: 0, count: dim)
        var lse: Float = -.infinity
        flat.withUnsafeBufferPointer { o in
            lses.withUnsafeBufferPointer { l in
                result.withUnsafeMutableBufferPointer { r in
                    guard let ob = o.baseAddress, let lb = l.baseAddress, let rb = r.baseAddress else { return }
                    merge(outputs: ob, partStride: dim, lses: lb, lseStride: 1, parts: lses.count, rows: 1, dim: dim,
                          into: rb, lseOut: &lse)
                }
            }
        }
        return (result, lse)
    }
}
