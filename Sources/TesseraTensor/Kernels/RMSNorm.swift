/// Root-mean-square normalisation as Hugging Face computes it in f32:
/// `y = (x * 1/sqrt(mean(x^2) + eps)) * weight`.
package enum RMSNorm {
    /// Normalises `rows` vectors of `dim` values. Row `r` starts at `x + r * inStride` and is
    /// written to `out + r * outStride`; `out` may equal `x` (in place).
    package static func apply(
        _ x: UnsafePointer<Float>, inStride: Int,
        weight: UnsafePointer<Float>, eps: Float,
        into out: UnsafeMutablePointer<Float>, outStride: Int,
        rows: Int, dim: Int
    ) {
        for r in 0..<rows {
            let src = x + r * inStride
            let dst = out + r * outStride
            let meanSquare = VectorOps.dot(src, src, count: dim) / Float(dim)
            let inverse = 1 / (meanSquare + eps).squareRoot()
            var i = 0
            let iv = SIMD16<Float>(repeating: inverse)
            while i + 16 <= dim {
                VectorOps.store16(VectorOps.load16(src, i) * iv * VectorOps.load16(weight, i), dst, i)
                i += 16
            }
            while i < dim {
                dst[i] = src[i] * inverse * weight[i]
                i += 1
            }
        }
    }

    /// Contiguous rows, separate output.
    package static func apply(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
        into out: UnsafeMutablePointer<Float>, rows: Int, dim: Int
    ) {
        apply(x, inStride: dim, weight: weight, eps: eps, into: out, outStride: dim, rows: rows, dim: dim)
    }
}
