/// SIMD building blocks the other kernels share. Pointers may be unaligned.
///
/// Products are written `acc += x * y`, never `addingProduct`: the package is built for
/// baseline x86-64, where a fused multiply-add becomes a library call per lane.
///
/// The hot ones are `@inlinable` so attention, in another module, gets them inlined into its
/// per-key loops instead of paying a call per 64-value dot product.
package enum VectorOps {
    @inlinable @inline(__always)
    package static func load16(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inlinable @inline(__always)
    package static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// Sum of `a[i] * b[i]` over `count` values.
    @inlinable @inline(__always)
    package static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            acc0 += load16(a, i) * load16(b, i)
            acc1 += load16(a, i + 16) * load16(b, i + 16)
            i += 32
        }
        if i + 16 <= n {
            acc0 += load16(a, i) * load16(b, i)
            i += 16
        }
        var s = (acc0 + acc1).sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// `y[i] += alpha * x[i]`.
    @inlinable @inline(__always)
    package static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let av = SIMD16<Float>(repeating: alpha)
        while i + 16 <= n {
            store16(load16(UnsafePointer(y), i) + av * load16(x, i), y, i)
            i += 16
        }
        while i < n {
            y[i] += alpha * x[i]
            i += 1
        }
    }

    /// `y[i] *= alpha`.
    @inlinable @inline(__always)
    package static func scale(_ y: UnsafeMutablePointer<Float>, by alpha: Float, count n: Int) {
        var i = 0
        let av = SIMD16<Float>(repeating: alpha)
        while i + 16 <= n {
            store16(load16(UnsafePointer(y), i) * av, y, i)
            i += 16
        }
        while i < n {
            y[i] *= alpha
            i += 1
        }
    }

    /// Largest of `count` values (-inf when empty).
    @inlinable
    package static func max(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var i = 0
        var m = -Float.infinity
        if n >= 16 {
            var mv = load16(x, 0)
            i = 16
            while i + 16 <= n {
                let v = load16(x, i)
                mv.replace(with: v, where: v .> mv)
                i += 16
            }
            m = mv.max()
        }
        while i < n {
            m = Swift.max(m, x[i])
            i += 1
        }
        return m
    }
}
