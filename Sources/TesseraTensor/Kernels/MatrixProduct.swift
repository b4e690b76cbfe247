import CTesseraKernels

extension WeightMatrix {
    /// `c[i * rows + j] = (accumulate ? c[...] : 0) + Σ_p a[i * columns + p] · W[j, p]` for the
    /// `m` input rows `a` (`[m, columns]`, f32): a linear layer, `c` being `[m, rows]`.
    ///
    /// An all-f32 matrix (the exact path) goes to `BLAS.linear`, as before quantised weights
    /// existed. Any other matrix runs on `pool`: the input rows are converted once to the form
    /// each part's kernel reads (8-bit blocks for quantised weights, see `tk_activation_type`),
    /// then the weight rows are split into chunks the pool's threads claim; each chunk streams
    /// its rows once against all `m` input rows.
    package func apply(
        _ a: UnsafePointer<Float>, rows m: Int, into c: UnsafeMutablePointer<Float>,
        accumulate: Bool = false, pool: ThreadPool
    ) {
        guard m > 0, rows > 0 else { return }
        if let w = floats {
            BLAS.linear(a, rows: m, inner: columns, weight: w, outer: rows, into: c, accumulate: accumulate)
            return
        }
        let inputs = ConvertedInputs(a, rows: m, columns: columns, for: parts.map(\.dtype), pool: pool)
        defer { inputs.release() }
        let chunks = chunkPlan(threads: pool.threads, inputRows: m)
        let k = Int64(columns), n = Int64(rows), mm = Int64(m)
        let acc: Int32 = accumulate ? 1 : 0
        chunks.withUnsafeBufferPointer { plan in
            pool.run(plan.count) { index, _ in
                let chunk = plan[index]
                let part = parts[chunk.part]
                tk_gemm_rows(part.dtype.ggmlNumber, part.bytes, k, inputs.rows(for: part.dtype), mm,
                             c + part.firstRow, n, Int64(chunk.rows.lowerBound), Int64(chunk.rows.upperBound), acc)
            }
        }
    }

    /// Rows `rows` (relative to the part) of part `part`.
    struct Chunk {
        let part: Int
        let rows: Range<Int>
    }

    /// Chunks of whole rows, about four per thread so a slow thread delays little, in multiples
    /// of 4 rows (the kernels' row tile), at least 16 rows (a chunk is then tens of KiB of
    /// weights at decode, so claiming one costs nothing next to reading it).
    func chunkPlan(threads: Int, inputRows m: Int) -> [Chunk] {
        let target = threads <= 1 ? rows : (rows + 4 * threads - 1) / (4 * threads)
        let size = max(16, (target + 3) / 4 * 4)
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

/// Input rows converted once per call to each activation form the parts' kernels read.
private struct ConvertedInputs: @unchecked Sendable {
    /// By `tk_activation_type` number: `m` rows of `tk_row_bytes(type, columns)` bytes.
    private var buffers: [(type: Int32, bytes: UnsafeMutableRawPointer)] = []

    init(_ a: UnsafePointer<Float>, rows m: Int, columns: Int, for dtypes: [DType], pool: ThreadPool) {
        for dtype in dtypes {
            let type = tk_activation_type(dtype.ggmlNumber)
            guard !buffers.contains(where: { $0.type == type }) else { continue }
            let rowBytes = tk_row_bytes(type, Int64(columns))
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, m * rowBytes), alignment: 64)
            // One row per chunk beyond a few rows (a prefill's thousands of rows in parallel).
            let parallel = m >= 8 && pool.threads > 1
            let convert = { (row: Int) in
                tk_quantize_activation_row(type, a + row * columns, bytes + row * rowBytes, Int64(columns))
            }
            if parallel {
                let perChunk = (m + 4 * pool.threads - 1) / (4 * pool.threads)
                pool.run((m + perChunk - 1) / perChunk) { chunk, _ in
                    for row in chunk * perChunk..<min(m, (chunk + 1) * perChunk) { convert(row) }
                }
            } else {
                for row in 0..<m { convert(row) }
            }
            buffers.append((type, bytes))
        }
    }

    func rows(for dtype: DType) -> UnsafeRawPointer {
        let type = tk_activation_type(dtype.ggmlNumber)
        return UnsafeRawPointer(buffers.first { $0.type == type }!.bytes)
    }

    func release() { for buffer in buffers { buffer.bytes.deallocate() } }
}
