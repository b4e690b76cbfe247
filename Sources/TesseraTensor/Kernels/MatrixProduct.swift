#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import CTesseraKernels
import Synchronization

extension WeightMatrix {
    /// `c[i * rows + j] = (accumulate ? c[...] : 0) + Σ_p a[i * columns + p] · W[j, p]` for the
    /// `m` input rows `a` (`[m, columns]`, f32): a linear layer, `c` being `[m, rows]`.
    ///
    /// An all-f32 matrix (the exact path) goes to `BLAS.linear`, as before stored weights
    /// existed. Any other matrix runs on `pool`, its weight rows split into chunks the pool's
    /// threads claim:
    /// - up to `WeightMatrix.streamedRows` input rows (decode, small batches), each chunk streams
    ///   its weight rows once, widening each block in registers against the f32 inputs
    ///   (`tk_gemm_rows_f32`): the weights are read once per step and never as f32.
    /// - more rows (prefill): each chunk widens a tile of weight rows into the thread's scratch
    ///   (`tk_dequantize_row`, exact) and multiplies it by all the rows with single-threaded
    ///   sgemm: arithmetic is what costs there, and the tile is widened once for all rows.
    /// Both keep the inputs in f32, so the result equals the f32 path's up to summation order.
    package func apply(
        _ a: UnsafePointer<Float>, rows m: Int, into c: UnsafeMutablePointer<Float>,
        accumulate: Bool = false, pool: ThreadPool
    ) {
        guard m > 0, rows > 0 else { return }
        if let w = floats {
            BLAS.linear(a, rows: m, inner: columns, weight: w, outer: rows, into: c, accumulate: accumulate)
            return
        }
        if m <= Self.streamedRows {
            streamed(a, rows: m, into: c, accumulate: accumulate, pool: pool)
        } else {
            tiled(a, rows: m, into: c, accumulate: accumulate, pool: pool)
        }
    }

    /// Input rows up to which weights are streamed rather than widened into tiles.
    package static let streamedRows = 8

    private func streamed(_ a: UnsafePointer<Float>, rows m: Int, into c: UnsafeMutablePointer<Float>,
                          accumulate: Bool, pool: ThreadPool) {
        let chunks = chunkPlan(rowsPerChunk: streamedChunkRows(threads: pool.threads))
        let k = Int64(columns), n = Int64(rows), mm = Int64(m)
        let acc: Int32 = accumulate ? 1 : 0
        chunks.withUnsafeBufferPointer { plan in
            pool.run(plan.count) { index, _ in
                let chunk = plan[index]
                let part = parts[chunk.part]
                tk_gemm_rows_f32(part.dtype.ggmlNumber, part.bytes, k, a, mm, c + part.firstRow, n,
                                 Int64(chunk.rows.lowerBound), Int64(chunk.rows.upperBound), acc)
            }
        }
    }

    private func tiled(_ a: UnsafePointer<Float>, rows m: Int, into c: UnsafeMutablePointer<Float>,
                       accumulate: Bool, pool: ThreadPool) {
        BLAS.runSingleThreadedInPools()
        // Tiles of about 128 KiB of f32 (they stay in L2 while sgemm passes over them), in
        // multiples of 16 rows.
        let tileRows = max(16, (32 * 1024 / max(1, columns)) / 16 * 16)
        let chunks = chunkPlan(rowsPerChunk: tileRows)
        let k = columns
        chunks.withUnsafeBufferPointer { plan in
            pool.run(plan.count) { index, _ in
                let chunk = plan[index]
                let part = parts[chunk.part]
                let count = chunk.rows.count
                let tile = tk_thread_scratch(count * k * 4)!.assumingMemoryBound(to: Float.self)
                for r in 0..<count {
                    tk_dequantize_row(part.dtype.ggmlNumber, part.bytes + (chunk.rows.lowerBound + r) * part.rowBytes,
                                      tile + r * k, Int64(k))
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(count), Int32(k),
                            1, a, Int32(k), tile, Int32(k), accumulate ? 1 : 0,
                            c + part.firstRow + chunk.rows.lowerBound, Int32(rows))
            }
        }
    }

    /// Rows per chunk when streaming: about four chunks per thread so a slow thread delays
    /// little, a multiple of 4 rows (the kernels' row tile), at least 16 rows (tens of KiB of
    /// weights, so claiming a chunk costs nothing next to reading it).
    private func streamedChunkRows(threads: Int) -> Int {
        let target = threads <= 1 ? rows : (rows + 4 * threads - 1) / (4 * threads)
        return max(16, (target + 3) / 4 * 4)
    }

    /// Rows `rows` (relative to the part) of part `part`.
    struct Chunk {
        let part: Int
        let rows: Range<Int>
    }

    /// Every part's rows in chunks of `size` (the last of each part shorter).
    func chunkPlan(rowsPerChunk size: Int) -> [Chunk] {
        var chunks: [Chunk] = []
        for (index, part) in parts.enumerated() {
            var start = 0
            while start < part.rows {
                let end = min(part.rows, start + size)
                chunks.append(Chunk(part: index, rows: start..<end))
                start = end
            }
        }
        return chunks
    }
}

extension BLAS {
    private static let pooled = Mutex(false)

    /// Pins OpenBLAS to one thread for good, the first time a product of stored weights runs
    /// sgemm inside a pool's chunks: OpenBLAS's own threads would compete with the pool's.
    static func runSingleThreadedInPools() {
        let first = pooled.withLock { done in
            defer { done = true }
            return !done
        }
        if first { setThreads(1) }
    }
}
