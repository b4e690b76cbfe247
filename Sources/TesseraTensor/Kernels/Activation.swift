/// The SwiGLU gate: `out[i] = silu(gate[i]) * up[i]` with `silu(x) = x / (1 + e^-x)`.
package enum SwiGLU {
    /// `rows` rows; row `r` reads `gate + r * inStride` and `up + r * inStride` (so a fused
    /// gate|up projection output can be passed as two offsets) and writes `out + r * width`.
    package static func apply(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, inStride: Int,
        into out: UnsafeMutablePointer<Float>, rows: Int, width: Int
    ) {
        for r in 0..<rows {
            let g = gate + r * inStride, u = up + r * inStride, o = out + r * width
            var i = 0
            while i + 16 <= width {
                let x = VectorOps.load16(g, i)
                let silu = x / (1 + FastExp.exp(-x))
                VectorOps.store16(silu * VectorOps.load16(u, i), o, i)
                i += 16
            }
            while i < width {
                let x = g[i]
                o[i] = x / (1 + FastExp.exp(-x)) * u[i]
                i += 1
            }
        }
    }
}
