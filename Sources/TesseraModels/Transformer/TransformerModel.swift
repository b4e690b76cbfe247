import Foundation
import TesseraTensor

/// The f32 forward pass of the Llama family (SmolLM2, Llama, Mistral-style GQA) and Qwen3
/// over a paged KV cache.
///
/// Immutable after init; `forward` allocates its scratch per call, so concurrent calls with
/// different caches are safe.
public final class TransformerModel: @unchecked Sendable {
    public let config: ModelConfig
    let weights: TransformerWeights
    let attention: Attention
    let inverseFrequencies: [Float]

    /// Loads every weight as f32 and checks its shape; errors name the offending tensor.
    public convenience init(config: ModelConfig, weights source: any WeightSource) throws {
        try self.init(config: config, weights: source, denseAttentionThreshold: nil)
    }

    /// `denseAttentionThreshold`: rows from which a sequence's attention uses sgemm, and
    /// `denseRowChunk` the query rows per product (tests set them to run every attention path
    /// on the same inputs); nil keeps the defaults.
    init(config: ModelConfig, weights source: any WeightSource, denseAttentionThreshold: Int?,
         denseRowChunk: Int? = nil) throws {
        try Self.validate(config)
        self.config = config
        weights = try TransformerWeights(config: config, source: source)
        var attention = Attention(numHeads: config.numHeads, numKVHeads: config.numKVHeads, headDim: config.headDim)
        if let threshold = denseAttentionThreshold { attention.denseThreshold = threshold }
        if let chunk = denseRowChunk { attention.denseRowChunk = max(1, chunk) }
        self.attention = attention
        inverseFrequencies = Rotary.inverseFrequencies(headDim: config.headDim, theta: config.ropeTheta)
    }

    static func validate(_ c: ModelConfig) throws {
        func fail(_ why: String) -> TransformerError { .invalidConfig(why) }
        for (name, value) in [
            ("vocabSize", c.vocabSize), ("hiddenSize", c.hiddenSize), ("intermediateSize", c.intermediateSize),
            ("numLayers", c.numLayers), ("numHeads", c.numHeads), ("numKVHeads", c.numKVHeads), ("headDim", c.headDim),
        ] where value <= 0 {
            throw fail("\(name)=\(value) must be positive")
        }
        guard c.numHeads % c.numKVHeads == 0 else {
            throw fail("numHeads=\(c.numHeads) must be a multiple of numKVHeads=\(c.numKVHeads)")
        }
        guard c.headDim % 2 == 0 else { throw fail("headDim=\(c.headDim) must be even for rotary") }
        guard c.ropeTheta > 0 else { throw fail("ropeTheta=\(c.ropeTheta) must be positive") }
    }

    /// Runs the batch, writes the new tokens' K/V into `cache` at their slots
    /// (`blockTable[pos / blockSize] * blockSize + pos % blockSize`) and returns logits
    /// `[logitIndices.count, vocabSize]`.
    public func forward(_ batch: ForwardBatch, cache: PagedKVCache) throws -> Tensor {
        try validate(batch, cache: cache)
        let c = config
        let n = batch.tokens.count
        let logitRows = batch.logitIndices.count
        guard n > 0 else { return Tensor(zeros: [logitRows, c.vocabSize]) }

        let maxSequenceRows = batch.sequences.map(\.tokenRange.count).max() ?? 0
        let ws = Workspace(config: c, rows: n)
        let attentionScratch = AttentionScratch(
            rows: n, numHeads: c.numHeads, headDim: c.headDim, maxSequenceRows: maxSequenceRows,
            blockSize: cache.blockSize, threads: ProcessInfo.processInfo.activeProcessorCount,
            denseSpans: attention.denseSpans(batch.sequences), denseRowChunk: attention.denseRowChunk)
        let (cosines, sines) = Rotary.table(positions: batch.positions, inverseFrequencies: inverseFrequencies)

        let hidden = c.hiddenSize
        for (row, token) in batch.tokens.enumerated() {
            (ws.residual.pointer + row * hidden).update(from: weights.embedding.pointer + token * hidden, count: hidden)
        }
        let qScale = 1 / Float(c.headDim).squareRoot()
        cosines.withUnsafeBufferPointer { cosBuffer in
            sines.withUnsafeBufferPointer { sinBuffer in
                for (index, layer) in weights.layers.enumerated() {
                    runLayer(index, layer, rows: n, batch: batch, cache: cache, ws: ws, attentionScratch: attentionScratch,
                             cos: cosBuffer.baseAddress!, sin: sinBuffer.baseAddress!, qScale: qScale)
                }
            }
        }

        // Final norm and LM head only for the rows that need logits: the vocab GEMM dominates.
        var logits = Tensor(zeros: [logitRows, c.vocabSize])
        guard logitRows > 0 else { return logits }
        let selected = FloatStorage(count: logitRows * hidden)
        for (k, row) in batch.logitIndices.enumerated() {
            RMSNorm.apply(ws.residual.pointer + row * hidden, weight: weights.finalNorm.pointer, eps: c.rmsNormEps,
                          into: selected.pointer + k * hidden, rows: 1, dim: hidden)
        }
        logits.data.withUnsafeMutableBufferPointer { out in
            BLAS.linear(selected.pointer, rows: logitRows, inner: hidden, weight: weights.lmHead.pointer,
                        outer: c.vocabSize, into: out.baseAddress!)
        }
        return logits
    }

    private func runLayer(
        _ index: Int, _ w: LayerWeights, rows n: Int, batch: ForwardBatch, cache: PagedKVCache, ws: Workspace,
        attentionScratch: AttentionScratch, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, qScale: Float
    ) {
        let c = config
        let hidden = c.hiddenSize
        let width = attention.qkvWidth
        let qkv = ws.qkv.pointer

        RMSNorm.apply(ws.residual.pointer, weight: w.inputNorm.pointer, eps: c.rmsNormEps,
                      into: ws.normed.pointer, rows: n, dim: hidden)
        BLAS.linear(ws.normed.pointer, rows: n, inner: hidden, weight: w.qkv.pointer, outer: width, into: qkv)
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            // Qwen3: RMSNorm over every query and key head, before rotary.
            for row in 0..<n {
                let q = qkv + row * width
                RMSNorm.apply(q, inStride: c.headDim, weight: qNorm.pointer, eps: c.rmsNormEps,
                              into: q, outStride: c.headDim, rows: c.numHeads, dim: c.headDim)
                let k = q + c.qDim
                RMSNorm.apply(k, inStride: c.headDim, weight: kNorm.pointer, eps: c.rmsNormEps,
                              into: k, outStride: c.headDim, rows: c.numKVHeads, dim: c.headDim)
            }
        }
        Rotary.apply(qkv, rows: n, rowStride: width, heads: c.numHeads, headDim: c.headDim, cos: cos, sin: sin)
        Rotary.apply(qkv + c.qDim, rows: n, rowStride: width, heads: c.numKVHeads, headDim: c.headDim, cos: cos, sin: sin)
        for row in 0..<n {
            VectorOps.scale(qkv + row * width, by: qScale, count: c.qDim)
        }

        attention.run(layer: index, qkv: qkv, rows: n, sequences: batch.sequences, cache: cache,
                      scratch: attentionScratch, into: ws.attention.pointer)
        BLAS.linear(ws.attention.pointer, rows: n, inner: c.qDim, weight: w.output.pointer, outer: hidden,
                    into: ws.residual.pointer, accumulate: true)

        RMSNorm.apply(ws.residual.pointer, weight: w.postNorm.pointer, eps: c.rmsNormEps,
                      into: ws.normed.pointer, rows: n, dim: hidden)
        let inter = c.intermediateSize
        BLAS.linear(ws.normed.pointer, rows: n, inner: hidden, weight: w.gateUp.pointer, outer: 2 * inter,
                    into: ws.gateUp.pointer)
        SwiGLU.apply(gate: ws.gateUp.pointer, up: ws.gateUp.pointer + inter, inStride: 2 * inter,
                     into: ws.activation.pointer, rows: n, width: inter)
        BLAS.linear(ws.activation.pointer, rows: n, inner: inter, weight: w.down.pointer, outer: hidden,
                    into: ws.residual.pointer, accumulate: true)
    }
}

/// Activations of one forward pass, reused by every layer.
final class Workspace {
    let residual: FloatStorage    // [rows, hidden]
    let normed: FloatStorage      // [rows, hidden]
    let qkv: FloatStorage         // [rows, qDim + 2 kvDim]
    let attention: FloatStorage   // [rows, qDim]
    let gateUp: FloatStorage      // [rows, 2 intermediate]
    let activation: FloatStorage  // [rows, intermediate]

    init(config c: ModelConfig, rows n: Int) {
        residual = FloatStorage(count: n * c.hiddenSize)
        normed = FloatStorage(count: n * c.hiddenSize)
        qkv = FloatStorage(count: n * (c.qDim + 2 * c.kvDim))
        attention = FloatStorage(count: n * c.qDim)
        gateUp = FloatStorage(count: n * 2 * c.intermediateSize)
        activation = FloatStorage(count: n * c.intermediateSize)
    }
}
