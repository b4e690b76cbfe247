import TesseraTensor

/// The per-forward inputs every layer reads: the batch, the cache, scratch, and the rotary
/// tables of the batch's positions.
struct LayerContext {
    let rows: Int
    let batch: ForwardBatch
    let cache: PagedKVCache
    let ws: Workspace
    let attentionScratch: AttentionScratch
    let cos: UnsafePointer<Float>
    let sin: UnsafePointer<Float>
    /// Softmax scale, applied to the queries.
    let qScale: Float
}

extension TransformerModel {
    /// One decoder layer on this rank: attention over the rank's heads (with its CP group)
    /// and the feed-forward over its intermediate slice, each ending in a row-parallel
    /// projection summed over TP and added to the residual.
    func runLayer(_ index: Int, _ w: LayerWeights, _ x: LayerContext) throws {
        let c = config
        let ws = x.ws
        RMSNorm.apply(ws.residual.pointer, weight: w.inputNorm.pointer, eps: c.rmsNormEps,
                      into: ws.normed.pointer, rows: x.rows, dim: c.hiddenSize)
        switch w.attention {
        case .grouped(let weights): try runGroupedAttention(index, weights, x)
        case .latent(let weights): try runLatentAttention(index, weights, x)
        }
        RMSNorm.apply(ws.residual.pointer, weight: w.postNorm.pointer, eps: c.rmsNormEps,
                      into: ws.normed.pointer, rows: x.rows, dim: c.hiddenSize)
        switch w.feedForward {
        case .dense(let weights):
            let product = ws.projected.pointer
            runDense(weights, input: ws.normed.pointer, rows: x.rows, ws: ws, into: product)
            try sumOverTP(product, rows: x.rows, addTo: ws.residual.pointer)
        case .experts(let weights):
            try runExperts(weights, x)
        }
    }

    /// Grouped-query attention: column-parallel QKV over the rank's heads, rotary, attention
    /// with the CP group, row-parallel O.
    private func runGroupedAttention(_ index: Int, _ w: GroupedAttentionWeights, _ x: LayerContext) throws {
        let c = config
        let n = x.rows
        let a = attention
        let width = a.qkvWidth
        let qkv = x.ws.qkv.pointer
        w.qkv.apply(x.ws.normed.pointer, rows: n, into: qkv, pool: pool)
        if let bias = w.qkvBias {
            for row in 0..<n { VectorOps.axpy(1, bias.pointer, qkv + row * width, count: width) }
        }
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
        Rotary.apply(qkv, rows: n, rowStride: width, heads: a.numHeads, headDim: c.headDim, cos: x.cos, sin: x.sin)
        Rotary.apply(qkv + a.qDim, rows: n, rowStride: width, heads: a.numKVHeads, headDim: c.headDim, cos: x.cos, sin: x.sin)
        for row in 0..<n {
            VectorOps.scale(qkv + row * width, by: x.qScale, count: a.qDim)
        }
        try attention.run(layer: index, qkv: qkv, rows: n, sequences: x.batch.sequences, cache: x.cache,
                          scratch: x.attentionScratch, cp: rank.cp, combine: rank.cpCombine, into: x.ws.attention.pointer)
        let product = x.ws.projected.pointer
        w.output.apply(x.ws.attention.pointer, rows: n, into: product, pool: pool)
        if let bias = w.outputBias {
            // Added once, to the summed product, before the residual (as o_proj(x) + b would be).
            try rank.tp.allReduce(UnsafeMutableBufferPointer(start: product, count: n * c.hiddenSize))
            for row in 0..<n { VectorOps.axpy(1, bias.pointer, product + row * c.hiddenSize, count: c.hiddenSize) }
            VectorOps.axpy(1, product, x.ws.residual.pointer, count: n * c.hiddenSize)
        } else {
            try sumOverTP(product, rows: n, addTo: x.ws.residual.pointer)
        }
    }

    /// `out = SwiGLU MLP(input)` over the rank's slice of the intermediate dimension: a
    /// partial product `[rows, hidden]` of the row-parallel down projection.
    func runDense(_ w: DenseFeedForward, input: UnsafePointer<Float>, rows n: Int, ws: Workspace, into out: UnsafeMutablePointer<Float>) {
        let width = w.width
        w.gateUp.apply(input, rows: n, into: ws.gateUp.pointer, pool: pool)
        SwiGLU.apply(gate: ws.gateUp.pointer, up: ws.gateUp.pointer + width, inStride: 2 * width,
                     into: ws.activation.pointer, rows: n, width: width)
        w.down.apply(ws.activation.pointer, rows: n, into: out, pool: pool)
    }

    /// `residual += product` summed over the TP group, `product` (`[rows, hidden]`) being this
    /// rank's partial product of a row-parallel projection.
    ///
    /// The partial products are summed first (all-reduce, rank order, bit-identical on every
    /// rank) and added to the residual after: the roundings of the sum are then relative to
    /// the products, not to the (often much larger) residual stream, which keeps the result
    /// as close to the single-rank `residual + product` as f32 allows.
    func sumOverTP(_ product: UnsafeMutablePointer<Float>, rows n: Int, addTo residual: UnsafeMutablePointer<Float>) throws {
        let count = n * config.hiddenSize
        try rank.tp.allReduce(UnsafeMutableBufferPointer(start: product, count: count))
        VectorOps.axpy(1, product, residual, count: count)
    }
}
