import TesseraTensor

/// The same attention parts for a sequence with many new rows (a prefill chunk), with the
/// score and weighted-sum products done by sgemm: for such sequences attention is quadratic in
/// the rows, and OpenBLAS's AVX2 kernels beat per-key dot products several times over, even
/// though the causal query part computes (and discards) the upper triangle of each row chunk.
///
/// Same results as the per-row kernels: the query part over the fresh K/V; the context part
/// over this rank's slice of the cached tokens, gathered per KV head into contiguous f32
/// (which also widens a 16-bit cache once instead of per query head). Runs on the calling
/// thread and lets OpenBLAS parallelise the products.
struct DenseAttention {
    let attention: Attention
    var rowChunk: Int { attention.denseRowChunk }

    /// Score buffer and gathered context that the dense sequences of a batch need.
    static func scratchSizes(for spans: [SequenceSpan], attention: Attention) -> (scores: Int, context: Int) {
        var scores = 0, context = 0
        for span in spans where attention.isDense(span) {
            let local = attention.localContext(of: span)
            let chunk = min(attention.denseRowChunk, span.tokenRange.count)
            scores = max(scores, chunk * max(local, span.tokenRange.count))
            context = max(context, local * attention.headDim)
        }
        return (scores, context)
    }

    /// Causal attention of the span's rows over their own K/V, for this rank's heads.
    func queryPart(span: SequenceSpan, qkv: UnsafePointer<Float>, scratch: AttentionScratch, into target: PartialTarget) {
        let a = attention
        let hd = a.headDim, width = a.qkvWidth
        let first = span.tokenRange.lowerBound
        let n = span.tokenRange.count
        let scores = scratch.denseScores.pointer
        for head in 0..<a.numHeads {
            let newKeys = qkv + first * width + a.qDim + a.kvHead(of: head) * hd
            let newValues = newKeys + a.kvDim
            var chunkStart = 0
            while chunkStart < n {
                let chunk = min(rowChunk, n - chunkStart)
                let row0 = first + chunkStart
                // Keys 0..<chunkStart+chunk of the new tokens; row r sees chunkStart + r + 1 of them.
                let keyCount = chunkStart + chunk
                BLAS.matmul(qkv + row0 * width + head * hd, lda: width, newKeys, ldb: width, transposeB: true,
                            m: chunk, n: keyCount, k: hd, into: scores, ldc: keyCount)
                for r in 0..<chunk {
                    let rowScores = scores + r * keyCount
                    let visible = chunkStart + r + 1
                    // Keys before `start` are outside a sliding window: weight 0.
                    let start = a.firstVisibleNew(span: span, row: chunkStart + r)
                    target.lse(rank: 0, row: row0 + r, head: head).pointee =
                        Softmax.inPlace(rowScores + start, count: visible - start)
                    rowScores.update(repeating: 0, count: start)
                    (rowScores + visible).update(repeating: 0, count: keyCount - visible)
                }
                BLAS.matmul(scores, lda: keyCount, newValues, ldb: width, transposeB: false,
                            m: chunk, n: hd, k: keyCount, into: target.output(rank: 0, row: row0, head: head),
                            ldc: target.rowStride)
                chunkStart += chunk
            }
        }
    }

    /// Attention of the span's rows, for every head of the CP group in `view`, over this
    /// rank's slice of the cached context.
    func contextPart(
        span: SequenceSpan, layer: Int, view: QueryView, cache: PagedKVCache, scratch: AttentionScratch,
        into target: PartialTarget
    ) {
        let a = attention
        let hd = a.headDim
        let first = span.tokenRange.lowerBound
        let n = span.tokenRange.count
        let context = a.localContext(of: span)
        guard context > a.firstVisibleLocal(span.contextLength) else {
            for c in 0..<a.cpSize {
                for head in 0..<a.numHeads {
                    for row in span.tokenRange {
                        target.output(rank: c, row: row, head: head).update(repeating: 0, count: hd)
                        target.lse(rank: c, row: row, head: head).pointee = -.infinity
                    }
                }
            }
            return
        }
        let scores = scratch.denseScores.pointer
        let keys = scratch.denseContextKeys.pointer
        let values = scratch.denseContextValues.pointer
        // With a sliding window the first row sees the most; later rows mask their older keys.
        let lowest = min(a.firstVisibleLocal(span.contextLength), context)
        let width = context - lowest
        for kvHead in 0..<a.numKVHeads {
            cache.gather(layer: layer, kvHead: kvHead, blockTable: span.blockTable, tokens: lowest..<context, keys: keys, values: values)
            for c in 0..<a.cpSize {
                for head in 0..<a.numHeads where a.kvHead(of: head) == kvHead {
                    var chunkStart = 0
                    while chunkStart < n {
                        let chunk = min(rowChunk, n - chunkStart)
                        let row0 = first + chunkStart
                        BLAS.matmul(view.query(rank: c, row: row0, head: head), lda: view.rowStride, keys, ldb: hd,
                                    transposeB: true, m: chunk, n: width, k: hd, into: scores, ldc: width)
                        for r in 0..<chunk {
                            let rowScores = scores + r * width
                            let skip = min(a.firstVisibleLocal(span.contextLength + chunkStart + r), context) - lowest
                            let lse = target.lse(rank: c, row: row0 + r, head: head)
                            lse.pointee = skip < width ? Softmax.inPlace(rowScores + skip, count: width - skip) : -.infinity
                            rowScores.update(repeating: 0, count: skip)
                        }
                        BLAS.matmul(scores, lda: width, values, ldb: hd, transposeB: false, m: chunk, n: hd, k: width,
                                    into: target.output(rank: c, row: row0, head: head), ldc: target.rowStride)
                        chunkStart += chunk
                    }
                }
            }
        }
    }
}
