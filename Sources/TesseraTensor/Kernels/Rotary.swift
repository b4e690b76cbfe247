import Foundation

/// Rotary position embedding with Hugging Face's "rotate_half" pairing: within a head of
/// `headDim` values, dimension `i` rotates with `i + headDim/2` by angle
/// `position * theta^(-2i/headDim)`.
package enum Rotary {
    /// `theta^(-2i/headDim)` for `i` in `0..<headDim/2`, rounded as transformers computes it:
    /// f32 exponent `2i/headDim`, the power rounded to f32 from double, then an f32 reciprocal.
    /// (Checked bit for bit against torch for several head sizes and thetas; a pure-f32 `powf`
    /// or a double reciprocal each differ in a few entries.)
    package static func inverseFrequencies(headDim: Int, theta: Double) -> [Float] {
        let half = headDim / 2
        return (0..<half).map { i in
            let exponent = Float(2 * i) / Float(headDim)
            return 1 / Float(pow(theta, Double(exponent)))
        }
    }

    /// Cosines and sines `[positions.count, headDim/2]` for the given absolute positions.
    /// The angle is the f32 product `position * invFreq`; its cos/sin are rounded from double.
    package static func table(positions: [Int], inverseFrequencies inv: [Float]) -> (cos: [Float], sin: [Float]) {
        let half = inv.count
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        for (row, position) in positions.enumerated() {
            for i in 0..<half {
                let angle = Double(Float(position) * inv[i])
                cosines[row * half + i] = Float(Foundation.cos(angle))
                sines[row * half + i] = Float(Foundation.sin(angle))
            }
        }
        return (cosines, sines)
    }

    /// Rotates `heads` heads of every row in place. Row `r`'s first head starts at
    /// `x + r * rowStride`; heads are contiguous, `headDim` apart. `cos`/`sin` are
    /// `[rows, headDim/2]` from `table`.
    package static func apply(
        _ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int, headDim: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let half = headDim / 2
        for r in 0..<rows {
            let c = cos + r * half
            let s = sin + r * half
            for h in 0..<heads {
                let lo = x + r * rowStride + h * headDim
                let hi = lo + half
                var i = 0
                while i + 16 <= half {
                    let a = VectorOps.load16(lo, i), b = VectorOps.load16(hi, i)
                    let cv = VectorOps.load16(c, i), sv = VectorOps.load16(s, i)
                    VectorOps.store16(a * cv - b * sv, lo, i)
                    VectorOps.store16(b * cv + a * sv, hi, i)
                    i += 16
                }
                while i < half {
                    let a = lo[i], b = hi[i]
                    lo[i] = a * c[i] - b * s[i]
                    hi[i] = b * c[i] + a * s[i]
                    i += 1
                }
            }
        }
    }

    /// Rotates like `apply`, but with the pairing of DeepSeek's checkpoints (and llama.cpp's
    /// "normal" rope): dimensions `2i` and `2i + 1` rotate together by frequency `i`. Heads
    /// are `headStride` apart (the rotated part of a wider head).
    package static func applyAdjacentPairs(
        _ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int, headStride: Int, headDim: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let half = headDim / 2
        for r in 0..<rows {
            let c = cos + r * half
            let s = sin + r * half
            for h in 0..<heads {
                let head = x + r * rowStride + h * headStride
                for i in 0..<half {
                    let a = head[2 * i], b = head[2 * i + 1]
                    head[2 * i] = a * c[i] - b * s[i]
                    head[2 * i + 1] = b * c[i] + a * s[i]
                }
            }
        }
    }
}
