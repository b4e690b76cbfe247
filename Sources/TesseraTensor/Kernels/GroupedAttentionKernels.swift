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
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Float>.self)
    }

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

    /// `scores[r * scoreStride + t] = q_r . k_t`: two rows against two keys at a time, eight
    /// columns per step, so each load of a key or query feeds two products.
    package static func computeScores(
        queries q: UnsafePointer<Float>, rows: Int, headDim hd: Int,
        keys: UnsafePointer<Float>, stride: Int, count: Int,
        into scores: UnsafeMutablePointer<Float>, scoreStride: Int
    ) {
        let vectorEnd = hd & ~7
        var r = 0
        while r + 2 <= rows {
            let q0 = q + r * hd, q1 = q0 + hd
            let s0 = scores + r * scoreStride, s1 = s0 + scoreStride
            var t = 0
            while t + 2 <= count {
                let k0 = keys + t * stride, k1 = k0 + stride
                var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a10 = SIMD8<Float>(), a11 = SIMD8<Float>()
                var d = 0
                while d < vectorEnd {
                    let x0 = load8(q0, d), x1 = load8(q1, d)
                    let y0 = load8(k0, d), y1 = load8(k1, d)
                    a00 += x0 * y0
                    a01 += x0 * y1
                    a10 += x1 * y0
                    a11 += x1 * y1
                    d += 8
                }
                var r00 = a00.sum(), r01 = a01.sum(), r10 = a10.sum(), r11 = a11.sum()
                while d < hd {
                    r00 += q0[d] * k0[d]
                    r01 += q0[d] * k1[d]
                    r10 += q1[d] * k0[d]
                    r11 += q1[d] * k1[d]
                    d += 1
                }
                s0[t] = r00
                s0[t + 1] = r01
                s1[t] = r10
                s1[t + 1] = r11
                t += 2
            }
            if t < count {
                let k0 = keys + t * stride
                s0[t] = dot(q0, k0, count: hd)
                s1[t] = dot(q1, k0, count: hd)
            }
            r += 2
        }
        if r < rows {
            let q0 = q + r * hd
            let s0 = scores + r * scoreStride
            for t in 0..<count { s0[t] = dot(q0, keys + t * stride, count: hd) }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            acc += load8(a, i) * load8(b, i)
            i += 8
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// `out[r * headDim + d] += sum_t weights[r * weightStride + t] * values[t * stride + d]`:
    /// two rows at a time, sixteen columns held in registers across the tile's values.
    package static func accumulate(
        weights w: UnsafePointer<Float>, weightStride: Int, rows: Int,
        values: UnsafePointer<Float>, stride: Int, count: Int, headDim hd: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        var r = 0
        while r + 2 <= rows {
            let w0 = w + r * weightStride, w1 = w0 + weightStride
            let o0 = out + r * hd, o1 = o0 + hd
            var d = 0
            while d + 16 <= hd {
                var a0 = load8(o0, d), b0 = load8(o0, d + 8)
                var a1 = load8(o1, d), b1 = load8(o1, d + 8)
                for t in 0..<count {
                    let v = values + t * stride + d
                    let v0 = load8(v, 0), v1 = load8(v, 8)
                    let p0 = SIMD8<Float>(repeating: w0[t]), p1 = SIMD8<Float>(repeating: w1[t])
                    a0 += p0 * v0
                    b0 += p0 * v1
                    a1 += p1 * v0
                    b1 += p1 * v1
                }
                store8(a0, o0, d)
                store8(b0, o0, d + 8)
                store8(a1, o1, d)
                store8(b1, o1, d + 8)
                d += 16
            }
            if d < hd {
                accumulateColumns(w0, values, stride: stride, count: count, from: d, to: hd, into: o0)
                accumulateColumns(w1, values, stride: stride, count: count, from: d, to: hd, into: o1)
            }
            r += 2
        }
        if r < rows {
            accumulateColumns(w + r * weightStride, values, stride: stride, count: count, from: 0, to: hd,
                              into: out + r * hd)
        }
    }

    /// One row's `out[d] += sum_t w[t] * values[t * stride + d]` for `d` in `from..<to`.
    static func accumulateColumns(
        _ w: UnsafePointer<Float>, _ values: UnsafePointer<Float>, stride: Int, count: Int, from: Int, to: Int,
        into o: UnsafeMutablePointer<Float>
    ) {
        var d = from
        while d + 16 <= to {
            var a = load8(o, d), b = load8(o, d + 8)
            for t in 0..<count {
                let v = values + t * stride + d
                let p = SIMD8<Float>(repeating: w[t])
                a += p * load8(v, 0)
                b += p * load8(v, 8)
            }
            store8(a, o, d)
            store8(b, o, d + 8)
            d += 16
        }
        while d + 8 <= to {
            var a = load8(o, d)
            for t in 0..<count { a += SIMD8<Float>(repeating: w[t]) * load8(values + t * stride, d) }
            store8(a, o, d)
            d += 8
        }
        while d < to {
            var a = o[d]
            for t in 0..<count { a += w[t] * values[t * stride + d] }
            o[d] = a
            d += 1
        }
    }
}
