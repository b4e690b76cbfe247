import TesseraTensor

/// Vocabulary-parallel embedding and LM head: each rank holds rows `shards.vocab` of both.
extension TransformerModel {
    /// The embedding rows of `tokens` into `residual` `[tokens.count, hidden]`: each rank
    /// copies the rows it holds and zeros the others, and the TP all-reduce fills them in
    /// (exactly: every element is one value plus zeros).
    func embed(_ tokens: [Int], into residual: UnsafeMutablePointer<Float>) throws {
        let hidden = config.hiddenSize
        let vocab = shards.vocab
        for (row, token) in tokens.enumerated() {
            let dst = residual + row * hidden
            if vocab.contains(token) {
                weights.embedding.dequantizeRow(token - vocab.lowerBound, into: dst)
            } else {
                dst.update(repeating: 0, count: hidden)
            }
        }
        try rank.tp.allReduce(UnsafeMutableBufferPointer(start: residual, count: tokens.count * hidden))
    }

    /// Final norm and LM head for the rows that need logits (the vocabulary GEMM dominates):
    /// each rank computes its vocabulary chunk, padded to `shards.vocabChunk` columns, and an
    /// all-gather over TP assembles `[rows.count, vocabSize]` on every rank.
    func logits(residual: UnsafePointer<Float>, rows: [Int]) throws -> Tensor {
        let c = config
        let hidden = c.hiddenSize
        let m = rows.count
        var logits = Tensor(zeros: [m, c.vocabSize])
        guard m > 0 else { return logits }
        let selected = FloatStorage(count: m * hidden)
        for (k, row) in rows.enumerated() {
            RMSNorm.apply(residual + row * hidden, weight: weights.finalNorm.pointer, eps: c.rmsNormEps,
                          into: selected.pointer + k * hidden, rows: 1, dim: hidden)
        }
        let chunk = shards.vocabChunk
        let owned = shards.vocab.count
        let local = FloatStorage(count: m * chunk)  // zero padding past `owned`
        if m == 1 || owned == chunk {
            weights.lmHead.apply(selected.pointer, rows: m, into: local.pointer, pool: pool)
        } else {
            let product = FloatStorage(count: m * owned)
            weights.lmHead.apply(selected.pointer, rows: m, into: product.pointer, pool: pool)
            for k in 0..<m { (local.pointer + k * chunk).update(from: product.pointer + k * owned, count: owned) }
        }
        let tp = rank.parallel.tp
        let gathered = FloatStorage(count: tp * m * chunk)
        try rank.tp.allGather(UnsafeBufferPointer(start: local.pointer, count: m * chunk),
                              into: UnsafeMutableBufferPointer(start: gathered.pointer, count: tp * m * chunk))
        logits.data.withUnsafeMutableBufferPointer { out in
            // Rank r's chunk `[m, chunk]` holds vocabulary ids r*chunk ..< r*chunk + chunk.
            for r in 0..<tp {
                let first = r * chunk
                let count = max(0, min(chunk, c.vocabSize - first))
                for k in 0..<m {
                    (out.baseAddress! + k * c.vocabSize + first).update(from: gathered.pointer + (r * m + k) * chunk, count: count)
                }
            }
        }
        return logits
    }
}
