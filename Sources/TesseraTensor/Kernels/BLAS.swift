#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// The BLAS calls the engine makes, in one place so the platform difference stays here.
public enum BLAS {
    /// Threads OpenBLAS may use for one call. Ranks running as threads of one process
    /// should set 1 each, or they oversubscribe the cores. No-op with Accelerate.
    public static func setThreads(_ n: Int) {
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
    /// This is a linear layer over `m` rows with a Hugging Face weight `[out, in]`.
    /// One row goes through gemv, which OpenBLAS runs faster than a 1-row gemm.
    package static func linear(
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
