import TesseraTensor

extension TransformerModel {
    /// A mixture-of-experts feed-forward on this rank: every rank routes every token the same
    /// way (replicated router, computed in a fixed order), runs each chosen expert once over the
    /// tokens that chose it (so only the chosen experts' weights are read), on its slice of the
    /// expert's width, adds the shared experts, and sums the partial result over TP once.
    func runExperts(_ w: ExpertFeedForward, _ x: LayerContext) throws {
        let n = x.rows
        let hidden = config.hiddenSize
        let m = w.config
        let input = x.ws.normed.pointer

        var tokens = [[(row: Int, weight: Float)]](repeating: [], count: m.numExperts)
        var rowLogits = [Float](repeating: 0, count: m.numExperts)
        for row in 0..<n {
            let token = input + row * hidden
            for e in 0..<m.numExperts {
                let weights = w.router.pointer + e * hidden
                var sum: Float = 0
                for i in 0..<hidden { sum += token[i] * weights[i] }
                rowLogits[e] = sum
            }
            let (experts, weights) = rowLogits.withUnsafeBufferPointer {
                ExpertRouter.route(logits: $0.baseAddress!, config: m, bias: w.correctionBias)
            }
            for (e, weight) in zip(experts, weights) { tokens[e].append((row, weight)) }
        }

        let out = x.ws.projected.pointer
        out.update(repeating: 0, count: n * hidden)
        let gathered = FloatStorage(count: n * hidden)
        let expertOut = FloatStorage(count: n * hidden)
        for (e, routed) in tokens.enumerated() where !routed.isEmpty {
            for (i, t) in routed.enumerated() {
                (gathered.pointer + i * hidden).update(from: input + t.row * hidden, count: hidden)
            }
            runDense(w.experts[e], input: gathered.pointer, rows: routed.count, ws: x.ws, into: expertOut.pointer)
            for (i, t) in routed.enumerated() {
                VectorOps.axpy(t.weight, expertOut.pointer + i * hidden, out + t.row * hidden, count: hidden)
            }
        }
        if let shared = w.shared {
            runDense(shared, input: input, rows: n, ws: x.ws, into: expertOut.pointer)
            VectorOps.axpy(1, expertOut.pointer, out, count: n * hidden)
        }
        try sumOverTP(out, rows: n, addTo: x.ws.residual.pointer)
    }
}
