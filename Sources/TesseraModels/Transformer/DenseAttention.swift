import TesseraTensor

/// The same attention step for a sequence with many new rows (a prefill chunk), with the score
/// and weighted-sum products done by sgemm: for such sequences attention is quadratic in the
/// rows, and OpenBLAS's AVX2 kernels beat per-key dot products several times over, even though
/// the causal query part computes (and discards) the upper triangle of each row chunk.
///
/// Same structure and results as the per-row path: query part over the fresh K/V, context part
/// over the cached tokens (gathered per KV head into contiguous f32, which also widens a 16-bit
/// cache once instead of per query head), LSE merge. Runs on the calling thread and lets
/// OpenBLAS parallelise the products.
struct DenseAttention {
    let attention: Attention
    var rowChunk: Int { attention.denseRowChunk }

    /// Score buffer and gathered context that `run` needs for these sequences.
    static func scratchSizes(for spans: [SequenceSpan], headDim: Int, rowChunk: Int) -> (scores: Int, context: Int) {
        var scores = 0, context = 0
        for span in spans {
            let chunk = min(rowChunk, span.tokenRange.count)
            scores = max(scores, chunk * max(span.contextLength, span.tokenRange.count))
            context = max(context, span.contextLength * headDim)
        }
        return (scores, context)
    }

    func run(
        span: SequenceSpan, layer: Int, qkv: UnsafePointer<Float>, rows: Int,
        cache: PagedKVCache, scratch: AttentionScratch, into out: UnsafeMutablePointer<Float>
    ) {
        let a = attention
        let hd = a.headDim, width = a.qkvWidth
        let group = a.numHeads / a.numKVHeads
        let first = span.tokenRange.lowerBound
        let n = span.tokenRange.count
        let context = span.contextLength
        let scores = scratch.denseScores.pointer
        let contextKeys = scratch.denseContextKeys.pointer
        let contextValues = scratch.denseContextValues.pointer
        let partials = scratch.partials.pointer
        let lses = scratch.lses.pointer
        let contextPartials = partials + rows * a.qDim
        let contextLSEs = lses + rows * a.numHeads

        for kvHead in 0..<a.numKVHeads {
            gatherContext(span: span, layer: layer, kvHead: kvHead, cache: cache, keys: contextKeys, values: contextValues)
            let newKeys = qkv + first * width + a.qDim + kvHead * hd
            let newValues = newKeys + a.kvDim
            for head in kvHead * group..<(kvHead + 1) * group {
                var chunkStart = 0
                while chunkStart < n {
                    let chunk = min(rowChunk, n - chunkStart)
                    let row0 = first + chunkStart
                    let queries = qkv + row0 * width + head * hd

                    // 1. Query part: keys 0..<chunkStart+chunk of the new tokens, causal.
                    let keyCount = chunkStart + chunk
                    BLAS.matmul(queries, lda: width, newKeys, ldb: width, transposeB: true,
                                m: chunk, n: keyCount, k: hd, into: scores, ldc: keyCount)
                    for r in 0..<chunk {
                        let rowScores = scores + r * keyCount
                        let visible = chunkStart + r + 1
                        lses[(row0 + r) * a.numHeads + head] = Softmax.inPlace(rowScores, count: visible)
                        (rowScores + visible).update(repeating: 0, count: keyCount - visible)
                    }
                    BLAS.matmul(scores, lda: keyCount, newValues, ldb: width, transposeB: false,
                                m: chunk, n: hd, k: keyCount, into: partials + row0 * a.qDim + head * hd, ldc: a.qDim)

                    // 2. Context part over the gathered cached tokens.
                    if context > 0 {
                        BLAS.matmul(queries, lda: width, contextKeys, ldb: hd, transposeB: true,
                                    m: chunk, n: context, k: hd, into: scores, ldc: context)
                        for r in 0..<chunk {
                            contextLSEs[(row0 + r) * a.numHeads + head] = Softmax.inPlace(scores + r * context, count: context)
                        }
                        BLAS.matmul(scores, lda: context, contextValues, ldb: hd, transposeB: false,
                                    m: chunk, n: hd, k: context, into: contextPartials + row0 * a.qDim + head * hd,
                                    ldc: a.qDim)
                    } else {
                        for r in 0..<chunk { contextLSEs[(row0 + r) * a.numHeads + head] = -.infinity }
                    }

                    // 3. Merge.
                    for r in 0..<chunk {
                        let index = (row0 + r) * a.numHeads + head
                        AttentionMerge.merge(
                            outputs: partials + index * hd, partStride: rows * a.qDim,
                            lses: lses + index, lseStride: rows * a.numHeads,
                            parts: 2, rows: 1, dim: hd, into: out + index * hd)
                    }
                    chunkStart += chunk
                }
            }
        }
    }

    /// The span's cached keys and values of one KV head as contiguous f32 `[contextLength, headDim]`.
    private func gatherContext(
        span: SequenceSpan, layer: Int, kvHead: Int, cache: PagedKVCache,
        keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>
    ) {
        let hd = attention.headDim
        let blockSize = cache.blockSize
        var start = 0
        while start < span.contextLength {
            let count = min(blockSize, span.contextLength - start)
            let firstSlot = span.blockTable[start / blockSize] * blockSize
            cache.read(layer: layer, values: false, kvHead: kvHead, firstSlot: firstSlot, count: count, into: keys + start * hd)
            cache.read(layer: layer, values: true, kvHead: kvHead, firstSlot: firstSlot, count: count, into: values + start * hd)
            start += count
        }
    }
}
