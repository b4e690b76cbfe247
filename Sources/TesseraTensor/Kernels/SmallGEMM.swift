import Foundation
import Synchronization

/// `c[m, n] = a[m, k] · w[n, k]ᵀ` for a few rows `m`: a decode step's linear layers.
///
/// OpenBLAS sgemm repacks all of `w` on every call, and a decode step at batch `m` is bound
/// by reading `w` once; this kernel streams each weight row from memory once for all `m` rows
/// (`a` is small and stays in cache). Tiles of 4 weight rows × 2 input rows keep 8 SIMD4
/// accumulators in registers, each loaded weight vector used twice and each input vector four
/// times; the 4 weight rows stay in L1 while every input row pair passes over them.
///
/// SIMD4 because the package is built for baseline x86-64 (SSE, 16 vector registers, no
/// FMA): wider vectors would only split into more registers than there are. Output columns
/// are split across `threads` workers when the weight is large enough to be worth waking them.
package enum SmallGEMM {
    /// Rows up to which `BLAS.linear` uses this kernel: at 8 it is a little faster than
    /// sgemm of 16 rows on SmolLM2 shapes, at 10 a little slower (2 cores, SSE).
    package static let maxRows = 8

    /// Multiply-adds below which one thread does the whole product.
    static let parallelWork = 1 << 17

    /// Threads a product may use; `BLAS.setThreads` sets it with OpenBLAS's.
    package static var threads: Int {
        get { budget.withLock { $0 } }
        set { budget.withLock { $0 = max(1, newValue) } }
    }

    private static let budget = Mutex(ProcessInfo.processInfo.activeProcessorCount)

    /// `c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + Σ_p a[i * lda + p] * w[j * ldw + p]`
    /// for `i < m`, `j < n`, `p < k`. `threads` nil: the process-wide budget.
    package static func linear(
        _ a: UnsafePointer<Float>, lda: Int, rows m: Int, inner k: Int,
        weight w: UnsafePointer<Float>, ldw: Int, outer n: Int,
        into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, threads: Int? = nil
    ) {
        guard m > 0, n > 0 else { return }
        let problem = Problem(a: a, lda: lda, m: m, k: k, w: w, ldw: ldw, c: c, ldc: ldc, accumulate: accumulate)
        let budget = threads ?? Self.threads
        let workers = m * n * k < parallelWork ? 1 : min(budget, max(1, n / 64))
        if workers <= 1 {
            problem.columns(0..<n)
            return
        }
        // Chunks of whole 4-row tiles, near-equal.
        let tiles = (n + 3) / 4
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            let lo = min(n, tiles * t / workers * 4)
            let hi = min(n, tiles * (t + 1) / workers * 4)
            if lo < hi { problem.columns(lo..<hi) }
        }
    }

    /// The operands, so the workers' closure captures one value.
    struct Problem: @unchecked Sendable {
        let a: UnsafePointer<Float>, lda: Int, m: Int, k: Int
        let w: UnsafePointer<Float>, ldw: Int
        let c: UnsafeMutablePointer<Float>, ldc: Int
        let accumulate: Bool

        /// Output columns `range` for every row.
        func columns(_ range: Range<Int>) {
            var j = range.lowerBound
            while j + 4 <= range.upperBound {
                let w0 = w + j * ldw
                var i = 0
                while i + 2 <= m {
                    tile4x2(a + i * lda, a + (i + 1) * lda, w0, ldw, into: c + i * ldc + j, ldc)
                    i += 2
                }
                if i < m { tile4x1(a + i * lda, w0, ldw, into: c + i * ldc + j) }
                j += 4
            }
            while j < range.upperBound {
                for i in 0..<m {
                    store(VectorOps.dot(a + i * lda, w + j * ldw, count: k), c + i * ldc + j)
                }
                j += 1
            }
        }

        @inline(__always)
        func store(_ value: Float, _ p: UnsafeMutablePointer<Float>) {
            p.pointee = accumulate ? p.pointee + value : value
        }

        @inline(__always)
        func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD4<Float> {
            UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Float>.self)
        }

        /// Rows `x0`, `x1` against weight rows `w0 ..< w0 + 4 ldw`, into `out[0..<4]` and `out[ldc..<ldc + 4]`.
        @inline(__always)
        func tile4x2(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ w0: UnsafePointer<Float>, _ ldw: Int,
                     into out: UnsafeMutablePointer<Float>, _ ldc: Int) {
            let w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw
            var s00 = SIMD4<Float>(), s01 = SIMD4<Float>(), s02 = SIMD4<Float>(), s03 = SIMD4<Float>()
            var s10 = SIMD4<Float>(), s11 = SIMD4<Float>(), s12 = SIMD4<Float>(), s13 = SIMD4<Float>()
            var p = 0
            while p + 4 <= k {
                let u = load(x0, p), v = load(x1, p)
                let b0 = load(w0, p)
                s00 += u * b0
                s10 += v * b0
                let b1 = load(w1, p)
                s01 += u * b1
                s11 += v * b1
                let b2 = load(w2, p)
                s02 += u * b2
                s12 += v * b2
                let b3 = load(w3, p)
                s03 += u * b3
                s13 += v * b3
                p += 4
            }
            var r0 = SIMD4(s00.sum(), s01.sum(), s02.sum(), s03.sum())
            var r1 = SIMD4(s10.sum(), s11.sum(), s12.sum(), s13.sum())
            while p < k {
                let b = SIMD4(w0[p], w1[p], w2[p], w3[p])
                r0 += x0[p] * b
                r1 += x1[p] * b
                p += 1
            }
            finish(r0, out)
            finish(r1, out + ldc)
        }

        /// Row `x0` against weight rows `w0 ..< w0 + 4 ldw`, into `out[0..<4]`.
        @inline(__always)
        func tile4x1(_ x0: UnsafePointer<Float>, _ w0: UnsafePointer<Float>, _ ldw: Int, into out: UnsafeMutablePointer<Float>) {
            let w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw
            var s0 = SIMD4<Float>(), s1 = SIMD4<Float>(), s2 = SIMD4<Float>(), s3 = SIMD4<Float>()
            var p = 0
            while p + 4 <= k {
                let u = load(x0, p)
                s0 += u * load(w0, p)
                s1 += u * load(w1, p)
                s2 += u * load(w2, p)
                s3 += u * load(w3, p)
                p += 4
            }
            var r = SIMD4(s0.sum(), s1.sum(), s2.sum(), s3.sum())
            while p < k {
                r += x0[p] * SIMD4(w0[p], w1[p], w2[p], w3[p])
                p += 1
            }
            finish(r, out)
        }

        @inline(__always)
        func finish(_ r: SIMD4<Float>, _ out: UnsafeMutablePointer<Float>) {
            let previous = accumulate ? UnsafeRawPointer(out).loadUnaligned(as: SIMD4<Float>.self) : SIMD4()
            UnsafeMutableRawPointer(out).storeBytes(of: previous + r, as: SIMD4<Float>.self)
        }
    }
}
