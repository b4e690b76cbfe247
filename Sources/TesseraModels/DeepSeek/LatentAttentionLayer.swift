import TesseraTensor

extension TransformerModel {
    /// One layer's multi-head latent attention on this rank, in the absorbed form for every
    /// row (prefill and decode alike), so K/V are never expanded per head:
    ///
    /// 1. one GEMM for `[q_a | kv_a]` (or `[q | kv_a]`); the query LoRA norm and up-projection;
    /// 2. the latent `c = RMSNorm(kv_a[..<L])` and the shared key part `k_pe`, rotated: the
    ///    token's one cached "KV head" `[c | k_pe]`, which is also its value (the attention
    ///    output's first `L` values are the latent output; the rest is ignored);
    /// 3. per head, `q_lat = q_nope · W_UK` and the rotated `q_pe`: queries `[q_lat | q_pe]` over
    ///    keys `[c | k_pe]` score exactly `q_nope · k_nope + q_pe · k_pe`;
    /// 4. the shared attention step (`Attention`: query part, CP all-gather of the queries,
    ///    each rank over its slice of the latent cache, LSE combine, owner-only writes);
    /// 5. per head `o = O_lat · W_UV^T`, then the row-parallel `o_proj` summed over TP.
    func runLatentAttention(_ index: Int, _ w: LatentAttentionWeights, _ x: LayerContext) throws {
        guard let m = config.latentAttention else { return }
        let n = x.rows
        let a = attention
        let heads = a.numHeads
        let (nope, rope, lora, v) = (m.qkNopeHeadDim, m.qkRopeHeadDim, m.kvLoraRank, m.vHeadDim)
        let qHead = nope + rope
        let latentWidth = m.cacheWidth
        let inputWidth = w.queryWidth + latentWidth
        let eps = LatentAttentionWeights.latentNormEps

        // 1. Projections.
        let input = FloatStorage(count: n * inputWidth)
        w.input.apply(x.ws.normed.pointer, rows: n, into: input.pointer, pool: pool)
        // The queries `[rows, heads * (nope + rope)]`, row stride `queryStride`: up-projected
        // from the query LoRA, or the first columns of the input projection.
        let queryStorage: FloatStorage
        let queryStride: Int
        if let norm = w.queryNorm, let up = w.queryUp {
            let compressed = FloatStorage(count: n * w.queryWidth)
            RMSNorm.apply(input.pointer, inStride: inputWidth, weight: norm.pointer, eps: eps,
                          into: compressed.pointer, outStride: w.queryWidth, rows: n, dim: w.queryWidth)
            queryStorage = FloatStorage(count: n * heads * qHead)
            up.apply(compressed.pointer, rows: n, into: queryStorage.pointer, pool: pool)
            queryStride = heads * qHead
        } else {
            queryStorage = input
            queryStride = inputWidth
        }
        let queries = queryStorage.pointer
        Rotary.applyAdjacentPairs(queries + nope, rows: n, rowStride: queryStride, heads: heads, headStride: qHead,
                                  headDim: rope, cos: x.cos, sin: x.sin)

        // 2. The latent key (and value) of each new token.
        let width = a.qkvWidth
        let qkv = x.ws.qkv.pointer
        let keyOffset = heads * latentWidth
        for row in 0..<n {
            let latent = input.pointer + row * inputWidth + w.queryWidth
            let key = qkv + row * width + keyOffset
            RMSNorm.apply(latent, weight: w.latentNorm.pointer, eps: eps, into: key, rows: 1, dim: lora)
            (key + lora).update(from: latent + lora, count: rope)
        }
        Rotary.applyAdjacentPairs(qkv + keyOffset + lora, rows: n, rowStride: width, heads: 1, headStride: latentWidth,
                                  headDim: rope, cos: x.cos, sin: x.sin)
        for row in 0..<n {
            let key = qkv + row * width + keyOffset
            (key + latentWidth).update(from: key, count: latentWidth)
        }

        // 3. Absorbed, scaled queries.
        for h in 0..<heads {
            BLAS.matmul(queries + h * qHead, lda: queryStride, w.keyUp.pointer + h * nope * lora, ldb: lora, transposeB: false,
                        m: n, n: lora, k: nope, into: qkv + h * latentWidth, ldc: width)
            for row in 0..<n {
                (qkv + row * width + h * latentWidth + lora).update(from: queries + row * queryStride + h * qHead + nope, count: rope)
            }
        }
        withExtendedLifetime(queryStorage) {}  // `queries` points into it until here
        for row in 0..<n {
            VectorOps.scale(qkv + row * width, by: x.qScale, count: keyOffset)
        }

        // 4. Attention in latent space.
        let out = x.ws.attention.pointer
        try attention.run(layer: index, qkv: qkv, rows: n, sequences: x.batch.sequences, cache: x.cache,
                          scratch: x.attentionScratch, cp: rank.cp, combine: rank.cpCombine, into: out)

        // 5. Value up-projection and output projection.
        let values = FloatStorage(count: n * heads * v)
        for h in 0..<heads {
            BLAS.matmul(out + h * latentWidth, lda: keyOffset, w.valueUp.pointer + h * v * lora, ldb: lora, transposeB: true,
                        m: n, n: v, k: lora, into: values.pointer + h * v, ldc: heads * v)
        }
        let product = x.ws.projected.pointer
        w.output.apply(values.pointer, rows: n, into: product, pool: pool)
        try sumOverTP(product, rows: n, addTo: x.ws.residual.pointer)
    }
}
