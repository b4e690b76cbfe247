import Foundation

/// Softmax with its natural-log normaliser, the quantity attention partials are merged by.
package enum Softmax {
    /// Replaces `x[0..<n]` by `exp(x - m) / sum` and returns `lse = log(sum_i exp(x_i))`.
    /// Empty input, or all `-inf`, returns `-inf` and leaves zeros: weight 0, never NaN.
    @discardableResult
    package static func inPlace(_ x: UnsafeMutablePointer<Float>, count n: Int) -> Float {
        let m = VectorOps.max(x, count: n)
        guard m > -.infinity else {
            x.update(repeating: 0, count: n)
            return -.infinity
        }
        let sum = exponentiate(x, count: n, shift: m)
        VectorOps.scale(x, by: 1 / sum, count: n)
        return m + logf(sum)
    }

    /// `log(sum_i exp(x_i))` without changing `x`; `-inf` when empty.
    package static func logSumExp(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        let m = VectorOps.max(x, count: n)
        guard m > -.infinity else { return -.infinity }
        var i = 0
        var acc = SIMD16<Float>()
        while i + 16 <= n {
            acc += FastExp.exp(VectorOps.load16(x, i) - m)
            i += 16
        }
        var sum = acc.sum()
        while i < n {
            sum += FastExp.exp(x[i] - m)
            i += 1
        }
        return m + logf(sum)
    }

    /// `x[i] = exp(x[i] - shift)`, returning the sum of the new values.
    @inlinable @inline(__always)
    package static func exponentiate(_ x: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        var i = 0
        var acc = SIMD16<Float>()
        while i + 16 <= n {
            let e = FastExp.exp(VectorOps.load16(x, i) - shift)
            VectorOps.store16(e, x, i)
            acc += e
            i += 16
        }
        var sum = acc.sum()
        while i < n {
            let e = FastExp.exp(x[i] - shift)
            x[i] = e
            sum += e
            i += 1
        }
        return sum
    }
}
