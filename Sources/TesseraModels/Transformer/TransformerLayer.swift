import TesseraTensor

extension TransformerModel {
    /// One decoder layer on this rank: column-parallel QKV and gate/up over the rank's heads
    /// and intermediate slice, attention (with the CP group), row-parallel O and down each
    /// followed by the TP all-reduce.
    func runLayer(
        _ index: Int, _ w: LayerWeights, rows n: Int, batch: ForwardBatch, cache: PagedKVCache, ws: Workspace,
        attentionScratch: AttentionScratch, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, qScale: Float
    ) throws {
        let c = config
        let hidden = c.hiddenSize
        let a = attention
        let width = a.qkvWidth
        let qkv = ws.qkv.pointer

        RMSNorm.apply(ws.residual.pointer, weight: w.inputNorm.pointer, eps: c.rmsNormEps,
                      into: ws.normed.pointer, rows: n, dim: hidden)
        BLAS.linear(ws.normed.pointer, rows: n, inner: hidden, weight: w.qkv.pointer, outer: width, into: qkv)
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            // Qwen3: RMSNorm over every query and key head, before rotary.
            for row in 0..<n {
                let q = qkv + row * width
                RMSNorm.apply(q, inStride: c.headDim, weight: qNorm.pointer, eps: c.rmsNormEps,
                              into: q, outStride: c.headDim, rows: a.numHeads, dim: c.headDim)
                let k = q + a.qDim
                RMSNorm.apply(k, inStride: c.headDim, weight: kNorm.pointer, eps: c.rmsNormEps,
                              into: k, outStride: c.headDim, rows: a.numKVHeads, dim: c.headDim)
            }
        }
        Rotary.apply(qkv, rows: n, rowStride: width, heads: a.numHeads, headDim: c.headDim, cos: cos, sin: sin)
        Rotary.apply(qkv + a.qDim, rows: n, rowStride: width, heads: a.numKVHeads, headDim: c.headDim, cos: cos, sin: sin)
        for row in 0..<n {
            VectorOps.scale(qkv + row * width, by: qScale, count: a.qDim)
        }

        try attention.run(layer: index, qkv: qkv, rows: n, sequences: batch.sequences, cache: cache,
                          scratch: attentionScratch, cp: rank.cp, combine: rank.cpCombine, into: ws.attention.pointer)
        try addRowParallel(ws.attention.pointer, rows: n, inner: a.qDim, weight: w.output, to: ws.residual.pointer,
                           scratch: ws.projected)

        RMSNorm.apply(ws.residual.pointer, weight: w.postNorm.pointer, eps: c.rmsNormEps,
                      into: ws.normed.pointer, rows: n, dim: hidden)
        let slice = shards.intermediate.count
        BLAS.linear(ws.normed.pointer, rows: n, inner: hidden, weight: w.gateUp.pointer, outer: 2 * slice,
                    into: ws.gateUp.pointer)
        SwiGLU.apply(gate: ws.gateUp.pointer, up: ws.gateUp.pointer + slice, inStride: 2 * slice,
                     into: ws.activation.pointer, rows: n, width: slice)
        try addRowParallel(ws.activation.pointer, rows: n, inner: slice, weight: w.down, to: ws.residual.pointer,
                           scratch: ws.projected)
    }

    /// `residual += input · weight^T` summed over the TP group, `weight` being this rank's
    /// columns `[hidden, inner]` of a row-parallel projection.
    ///
    /// The partial products are summed first (all-reduce, rank order, bit-identical on every
    /// rank) and added to the residual after: the roundings of the sum are then relative to
    /// the products, not to the (often much larger) residual stream, which keeps the result
    /// as close to the single-rank `residual + product` as f32 allows. On a single rank this
    /// is the same arithmetic as an accumulating GEMM.
    private func addRowParallel(
        _ input: UnsafePointer<Float>, rows n: Int, inner: Int, weight: FloatStorage, to residual: UnsafeMutablePointer<Float>,
        scratch: FloatStorage
    ) throws {
        let hidden = config.hiddenSize
        let product = scratch.pointer
        BLAS.linear(input, rows: n, inner: inner, weight: weight.pointer, outer: hidden, into: product)
        try rank.tp.allReduce(UnsafeMutableBufferPointer(start: product, count: n * hidden))
        VectorOps.axpy(1, product, residual, count: n * hidden)
    }
}
