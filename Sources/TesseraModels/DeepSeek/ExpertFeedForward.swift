import TesseraTensor

/// One mixture-of-experts layer on one rank: the router (replicated, so every rank chooses the
/// same experts) and, for every routed expert and the shared experts, the rank's slice of
/// their intermediate dimension (each expert is split across the TP ranks like a dense MLP).
struct ExpertFeedForward {
    let config: MixtureOfExperts
    /// `mlp.gate.weight`, `[experts, hidden]`.
    let router: FloatStorage
    /// DeepSeek-V3's `e_score_correction_bias` `[experts]`, added to the scores only to choose.
    let correctionBias: [Float]?
    let experts: [DenseFeedForward]
    /// The shared experts as one MLP of `sharedExperts * expertIntermediateSize`; nil without.
    let shared: DenseFeedForward?

    init(config c: ModelConfig, experts m: MixtureOfExperts, layer: Int, loader w: WeightLoader, shards: RankShards) throws {
        let p = "model.layers.\(layer).mlp."
        let hidden = c.hiddenSize
        let width = m.expertIntermediateSize
        let slice = RankShards.balancedSplit(width, parts: shards.tp, index: shards.rank)
        config = m
        router = try w.storage(p + "gate.weight", [m.numExperts, hidden])
        if m.scoring == .sigmoid, w.has(p + "gate.e_score_correction_bias") {
            correctionBias = try w.load(p + "gate.e_score_correction_bias", [m.numExperts])
        } else {
            correctionBias = nil
        }
        var experts: [DenseFeedForward] = []
        for e in 0..<m.numExperts {
            let name = p + "experts.\(e)."
            if w.has(name + "gate_proj.weight") {
                experts.append(try DenseFeedForward(prefix: name, hidden: hidden, intermediate: width, slice: slice, loader: w))
            } else {
                experts.append(try DenseFeedForward(stackedExperts: p + "experts.", expert: e, count: m.numExperts, hidden: hidden,
                                                    intermediate: width, slice: slice, loader: w))
            }
        }
        self.experts = experts
        if m.sharedExperts > 0 {
            let sharedWidth = m.sharedExperts * width
            shared = try DenseFeedForward(
                prefix: p + "shared_experts.", hidden: hidden, intermediate: sharedWidth,
                slice: RankShards.balancedSplit(sharedWidth, parts: shards.tp, index: shards.rank), loader: w)
        } else {
            shared = nil
        }
    }
}

extension DenseFeedForward {
    /// Expert `expert` of 3-D stacked expert weights (GGUF's `ffn_*_exps`):
    /// `{prefix}gate_proj.weight` and `up_proj` `[experts, intermediate, hidden]`,
    /// `down_proj` `[experts, hidden, intermediate]`.
    init(stackedExperts p: String, expert e: Int, count: Int, hidden: Int, intermediate: Int, slice: Range<Int>,
         loader w: WeightLoader) throws {
        width = slice.count
        let rows = slice.lowerBound * hidden..<slice.upperBound * hidden
        gateUp = WeightMatrix(
            floats: try w.load(p + "gate_proj.weight", [count, intermediate, hidden], rows: e..<e + 1, columns: rows)
                + w.load(p + "up_proj.weight", [count, intermediate, hidden], rows: e..<e + 1, columns: rows),
            rows: 2 * slice.count, columns: hidden)
        let whole = try w.load(p + "down_proj.weight", [count, hidden, intermediate], rows: e..<e + 1)
        var down = [Float](repeating: 0, count: hidden * slice.count)
        for r in 0..<hidden {
            for (j, column) in slice.enumerated() { down[r * slice.count + j] = whole[r * intermediate + column] }
        }
        self.down = WeightMatrix(floats: down, rows: hidden, columns: slice.count)
    }
}
