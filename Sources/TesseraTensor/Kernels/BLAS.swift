#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// The BLAS calls the engine makes, in one place so the platform difference stays here.
public enum BLAS {
    /// Threads OpenBLAS and the small-batch linear kernel (`SmallGEMM`) may use for one call.
    /// Ranks running as threads of one process should set 1 each, or they oversubscribe the
    /// cores. Process-wide; OpenBLAS's part is a no-op with Accelerate.
    public static func setThreads(_ n: Int) {
        SmallGEMM.threads = n
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, n)))
        #endif
    }

    /// General row-major `c = a * op(b) (+ c when accumulate)` with leading dimensions, for
    /// attention over strided head slices: `a` is `[m, k]` (row stride `lda`), `op(b)` is
    /// `[k, n]`, given either as `b[k, n]` or, with `transposeB`, as `b[n, k]` (row stride `ldb`).
    package static func matmul(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        m: Int, n: Int, k: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
            1, a, Int32(lda), b, Int32(ldb), accumulate ? 1 : 0, c, Int32(ldc))
    }

    /// `c[m, n] = a[m, k] * w[n, k]^T (+ c when accumulate)`, all row-major and contiguous.
    ///
    /// This is a linear layer over `m` rows with a Hugging Face weight `[out, in]`, routed by
    /// row count (measured on SmolLM2 shapes, see `SmallGEMMTests.benchmark`):
    /// - 1 row: sgemv, which streams the weight with AVX at memory speed.
    /// - 2 ... `SmallGEMM.maxRows`: `SmallGEMM`, one pass over the weight for all rows,
    ///   where sgemm would first repack the whole weight.
    /// - more: sgemm, which costs about the same for any row count up to a multiple of 16 and
    ///   much more just below one (its edge path: 12 rows cost twice 16). Up to
    ///   `paddedRowLimit` rows, the rows past the last multiple of 16 go through `SmallGEMM`
    ///   when they are few, else the product is sgemm padded to the next multiple of 16.
    package static func linear(
        _ a: UnsafePointer<Float>, rows m: Int, inner k: Int,
        weight w: UnsafePointer<Float>, outer n: Int,
        into c: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        if m == 1 || m > paddedRowLimit || m % 16 == 0 {
            blasLinear(a, rows: m, inner: k, weight: w, outer: n, into: c, accumulate: accumulate)
            return
        }
        let full = m / 16 * 16
        let rest = m - full
        if rest > SmallGEMM.maxRows {
            paddedLinear(a, rows: m, inner: k, weight: w, outer: n, into: c, accumulate: accumulate)
            return
        }
        if full > 0 { blasLinear(a, rows: full, inner: k, weight: w, outer: n, into: c, accumulate: accumulate) }
        SmallGEMM.linear(a + full * k, lda: k, rows: rest, inner: k, weight: w, ldw: k, outer: n, into: c + full * n, ldc: n,
                         accumulate: accumulate)
    }

    /// Rows up to which `linear` splits off or pads the rows past a multiple of 16.
    static let paddedRowLimit = 64

    /// `linear` as sgemm over rows padded to a multiple of 16, through copies.
    private static func paddedLinear(
        _ a: UnsafePointer<Float>, rows m: Int, inner k: Int,
        weight w: UnsafePointer<Float>, outer n: Int,
        into c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let padded = (m + 15) / 16 * 16
        let input = UnsafeMutablePointer<Float>.allocate(capacity: padded * k)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: padded * n)
        defer {
            input.deallocate()
            output.deallocate()
        }
        input.initialize(from: a, count: m * k)
        (input + m * k).initialize(repeating: 0, count: (padded - m) * k)
        if accumulate {
            // With beta 0 sgemm overwrites the output; with beta 1 the padding rows must be numbers.
            output.initialize(from: c, count: m * n)
            (output + m * n).initialize(repeating: 0, count: (padded - m) * n)
        }
        blasLinear(input, rows: padded, inner: k, weight: w, outer: n, into: output, accumulate: accumulate)
        c.update(from: output, count: m * n)
    }

    /// `linear` through OpenBLAS alone: gemv for one row, gemm for more (benchmarks compare).
    package static func blasLinear(
        _ a: UnsafePointer<Float>, rows m: Int, inner k: Int,
        weight w: UnsafePointer<Float>, outer n: Int,
        into c: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        guard m > 0, n > 0 else { return }
        let beta: Float = accumulate ? 1 : 0
        if k == 0 {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        if m == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, w, Int32(k), a, 1, beta, c, 1)
        } else {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                1, a, Int32(k), w, Int32(k), beta, c, Int32(n))
        }
    }
}
