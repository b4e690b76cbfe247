import TesseraTensor

/// One layer's multi-head latent attention on one rank: the down-projections to the latent
/// (replicated on every rank) and the per-head parts for the rank's query heads.
struct LatentAttentionWeights {
    /// `[q_a_proj | kv_a_proj_with_mqa]` stacked, or `[q_proj rows of the rank's heads |
    /// kv_a_proj_with_mqa]` without a query LoRA: `[inputWidth, hidden]`, one GEMM for both.
    let input: WeightMatrix
    /// Rows of `input` before the latent's: `q_lora_rank`, or the rank's query rows.
    let queryWidth: Int
    /// `q_a_layernorm` `[q_lora_rank]` and `q_b_proj` rows of the rank's heads
    /// `[hq * (nope + rope), q_lora_rank]`; nil without a query LoRA.
    let queryNorm: FloatStorage?
    let queryUp: WeightMatrix?
    /// `kv_a_layernorm`, `[kv_lora_rank]`.
    let latentNorm: FloatStorage
    /// Per head of the rank, W_UK `[nope, kv_lora_rank]`: absorbs the key up-projection into
    /// the query (`q_lat = q_nope · W_UK`).
    let keyUp: FloatStorage
    /// Per head of the rank, W_UV `[v_head_dim, kv_lora_rank]`: the value up-projection,
    /// applied to the attention output in latent space.
    let valueUp: FloatStorage
    /// o_proj columns of the rank's heads: `[hidden, hq * v_head_dim]` (row-parallel).
    let output: WeightMatrix

    /// Norm epsilon of the query and latent norms: DeepSeek's code builds them with the
    /// RMSNorm default, not `rms_norm_eps`.
    static let latentNormEps: Float = 1e-6

    init(config c: ModelConfig, layer: Int, loader w: WeightLoader, shards: RankShards) throws {
        guard let m = c.latentAttention else { throw TransformerError.invalidConfig("not a latent-attention model") }
        let p = "model.layers.\(layer).self_attn."
        let heads = shards.queryHeads
        let hidden = c.hiddenSize
        let (nope, rope, lora, v) = (m.qkNopeHeadDim, m.qkRopeHeadDim, m.kvLoraRank, m.vHeadDim)
        let qHead = nope + rope
        let queryRows = heads.lowerBound * qHead..<heads.upperBound * qHead
        let latentInput = try w.matrix(p + "kv_a_proj_with_mqa.weight", [lora + rope, hidden])
        if let qLora = m.qLoraRank {
            input = WeightMatrix(stacking: [try w.matrix(p + "q_a_proj.weight", [qLora, hidden]), latentInput])
            queryWidth = qLora
            queryNorm = try w.storage(p + "q_a_layernorm.weight", [qLora])
            queryUp = try w.matrix(p + "q_b_proj.weight", [c.numHeads * qHead, qLora], rows: queryRows)
        } else {
            input = WeightMatrix(stacking: [
                try w.matrix(p + "q_proj.weight", [c.numHeads * qHead, hidden], rows: queryRows), latentInput,
            ])
            queryWidth = queryRows.count
            queryNorm = nil
            queryUp = nil
        }
        latentNorm = try w.storage(p + "kv_a_layernorm.weight", [lora])

        var keyUp: [Float] = []
        var valueUp: [Float] = []
        if w.has(p + "kv_b_proj.weight") {
            // Hugging Face (and older GGUF files): per head, nope rows of W_UK then v rows of W_UV.
            let perHead = nope + v
            let rows = try w.load(p + "kv_b_proj.weight", [c.numHeads * perHead, lora],
                                  rows: heads.lowerBound * perHead..<heads.upperBound * perHead)
            for h in 0..<heads.count {
                let start = h * perHead * lora
                keyUp += rows[start..<start + nope * lora]
                valueUp += rows[start + nope * lora..<start + perHead * lora]
            }
        } else {
            // Newer GGUF files: k_b per head already transposed, `[kv_lora_rank, nope]`.
            let keyT = try w.load(p + "k_b_proj.weight", [c.numHeads, lora, nope], rows: heads)
            keyUp = [Float](repeating: 0, count: heads.count * nope * lora)
            for h in 0..<heads.count {
                for i in 0..<lora {
                    for j in 0..<nope { keyUp[h * nope * lora + j * lora + i] = keyT[h * lora * nope + i * nope + j] }
                }
            }
            valueUp = try w.load(p + "v_b_proj.weight", [c.numHeads, v, lora], rows: heads)
        }
        self.keyUp = FloatStorage(concatenating: [keyUp])
        self.valueUp = FloatStorage(concatenating: [valueUp])
        output = try w.matrix(p + "o_proj.weight", [hidden, c.numHeads * v],
                               columns: heads.lowerBound * v..<heads.upperBound * v)
    }
}
