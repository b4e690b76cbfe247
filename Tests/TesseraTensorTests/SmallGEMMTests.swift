import Foundation
import Testing
@testable import TesseraTensor

/// The small-batch linear kernel against a double-precision reference.
@Suite("SmallGEMM")
struct SmallGEMMTests {
    /// Every row count 1...40 over inner and outer sizes off the SIMD width, with and without
    /// accumulation, on one thread and on two (the column split).
    @Test(arguments: [1, 7, 64, 577, 1536])
    func matchesDoubleReference(inner k: Int) {
        let maxRows = 40
        for n in [1, 3, 100, 2049] {
            let a = KernelTests.random(maxRows * k, seed: UInt64(k * 31 + n))
            let w = KernelTests.random(n * k, seed: UInt64(k * 17 + n + 5))
            let bias = KernelTests.random(maxRows * n, seed: UInt64(n + 99))
            // Exact sums and the sums of magnitudes (the scale of the rounding error).
            var exact = [Double](repeating: 0, count: maxRows * n)
            var magnitude = [Double](repeating: 0, count: maxRows * n)
            for i in 0..<maxRows {
                for j in 0..<n {
                    var s = 0.0, m = 0.0
                    for p in 0..<k {
                        let t = Double(a[i * k + p]) * Double(w[j * k + p])
                        s += t
                        m += abs(t)
                    }
                    exact[i * n + j] = s
                    magnitude[i * n + j] = m
                }
            }
            for m in 1...maxRows {
                for threads in [1, 2] {
                    for accumulate in [false, true] {
                        var c = accumulate ? Array(bias[0..<(m * n)]) : [Float](repeating: .nan, count: m * n)
                        SmallGEMM.linear(a, lda: k, rows: m, inner: k, weight: w, ldw: k, outer: n, into: &c, ldc: n,
                                         accumulate: accumulate, threads: threads)
                        var worst = 0.0
                        for e in 0..<(m * n) {
                            let expected = exact[e] + (accumulate ? Double(bias[e]) : 0)
                            let scale = magnitude[e] + (accumulate ? abs(Double(bias[e])) : 0)
                            worst = max(worst, abs(Double(c[e]) - expected) / max(scale, 1e-30))
                        }
                        #expect(worst < 1e-5, "m=\(m) n=\(n) k=\(k) threads=\(threads) accumulate=\(accumulate): \(worst)")
                    }
                }
            }
        }
    }

    /// `BLAS.linear` over every route (gemv, this kernel, sgemm split, padded or plain).
    @Test func linearRoutesMatchDoubleReference() {
        let k = 67, n = 37, maxRows = 70
        let a = KernelTests.random(maxRows * k, seed: 21), w = KernelTests.random(n * k, seed: 22)
        let bias = KernelTests.random(maxRows * n, seed: 23)
        for m in Array(1...40) + [47, 48, 56, 63, 64, 65, 70] {
            for accumulate in [false, true] {
                var c = accumulate ? Array(bias[0..<(m * n)]) : [Float](repeating: .nan, count: m * n)
                BLAS.linear(a, rows: m, inner: k, weight: w, outer: n, into: &c, accumulate: accumulate)
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var s = accumulate ? Double(bias[i * n + j]) : 0
                        var scale = abs(s)
                        for p in 0..<k {
                            let t = Double(a[i * k + p]) * Double(w[j * k + p])
                            s += t
                            scale += abs(t)
                        }
                        worst = max(worst, abs(Double(c[i * n + j]) - s) / scale)
                    }
                }
                #expect(worst < 1e-5, "m=\(m) accumulate=\(accumulate): \(worst)")
            }
        }
    }

    /// Strided operands: `lda`, `ldw`, `ldc` wider than the product, padding untouched.
    @Test func stridedOperands() {
        let m = 5, n = 9, k = 13, lda = 16, ldw = 15, ldc = 11
        let a = KernelTests.random(m * lda, seed: 3), w = KernelTests.random(n * ldw, seed: 4)
        var c = [Float](repeating: 42, count: m * ldc)
        SmallGEMM.linear(a, lda: lda, rows: m, inner: k, weight: w, ldw: ldw, outer: n, into: &c, ldc: ldc, threads: 1)
        for i in 0..<m {
            for j in 0..<ldc {
                if j < n {
                    let expected = (0..<k).reduce(0.0) { $0 + Double(a[i * lda + $1]) * Double(w[j * ldw + $1]) }
                    #expect(abs(Double(c[i * ldc + j]) - expected) < 1e-5)
                } else {
                    #expect(c[i * ldc + j] == 42)
                }
            }
        }
    }

    /// Times one linear of SmolLM2 shapes through OpenBLAS and through the kernel; prints,
    /// asserts nothing. Run with TESSERA_BENCH_GEMM=1.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_BENCH_GEMM"] != nil))
    func benchmark() {
        print("GEMM threads: \(SmallGEMM.threads)")
        for (n, k) in [(1536, 576), (960, 576), (576, 1536), (49152, 576)] {
            let maxRows = 64
            let a = KernelTests.random(maxRows * k, seed: 1)
            let w = KernelTests.random(n * k, seed: 2)
            var c = [Float](repeating: 0, count: maxRows * n)
            for m in [1, 2, 4, 8, 10, 12, 16, 20, 24, 32] {
                func time(_ body: () -> Void) -> Double {
                    body()
                    var best = Double.infinity
                    for _ in 0..<5 {
                        let reps = n > 10_000 ? 3 : 30
                        let start = DispatchTime.now().uptimeNanoseconds
                        for _ in 0..<reps { body() }
                        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / Double(reps) / 1e3)
                    }
                    return best
                }
                let blas = time { BLAS.blasLinear(a, rows: m, inner: k, weight: w, outer: n, into: &c) }
                let small = time {
                    SmallGEMM.linear(a, lda: k, rows: m, inner: k, weight: w, ldw: k, outer: n, into: &c, ldc: n)
                }
                let small1 = time {
                    SmallGEMM.linear(a, lda: k, rows: m, inner: k, weight: w, ldw: k, outer: n, into: &c, ldc: n, threads: 1)
                }
                let routed = time { BLAS.linear(a, rows: m, inner: k, weight: w, outer: n, into: &c) }
                print(String(format: "GEMM n=%5d k=%4d m=%2d  openblas %9.1f us  small %9.1f us  small/1 thread %9.1f us  BLAS.linear %9.1f us",
                             n, k, m, blas, small, small1, routed))
            }
        }
    }
}
