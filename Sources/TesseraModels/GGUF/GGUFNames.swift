/// Translation of llama.cpp tensor names to Hugging Face (transformers) names.
enum GGUFNames {
    private static let global: [String: String] = [
        "token_embd": "model.embed_tokens",
        "output_norm": "model.norm",
        "output": "lm_head",
    ]

    private static let perLayer: [String: String] = [
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "attn_q_norm": "self_attn.q_norm",
        "attn_k_norm": "self_attn.k_norm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
        // deepseek2: latent attention, router, shared experts, and the experts stacked in 3-D
        // tensors (`[experts, out, in]` in Hugging Face order). `attn_k_b` / `attn_v_b` (newer
        // files) have no Hugging Face counterpart; they keep names of the same pattern.
        "attn_q_a": "self_attn.q_a_proj",
        "attn_q_a_norm": "self_attn.q_a_layernorm",
        "attn_q_b": "self_attn.q_b_proj",
        "attn_kv_a_mqa": "self_attn.kv_a_proj_with_mqa",
        "attn_kv_a_norm": "self_attn.kv_a_layernorm",
        "attn_kv_b": "self_attn.kv_b_proj",
        "attn_k_b": "self_attn.k_b_proj",
        "attn_v_b": "self_attn.v_b_proj",
        "ffn_gate_inp": "mlp.gate",
        "ffn_gate_exps": "mlp.experts.gate_proj",
        "ffn_up_exps": "mlp.experts.up_proj",
        "ffn_down_exps": "mlp.experts.down_proj",
        "ffn_gate_shexp": "mlp.shared_experts.gate_proj",
        "ffn_up_shexp": "mlp.shared_experts.up_proj",
        "ffn_down_shexp": "mlp.shared_experts.down_proj",
    ]

    /// The Hugging Face name of a GGUF tensor (`blk.3.attn_q.weight` ->
    /// `model.layers.3.self_attn.q_proj.weight`). Names without a known translation
    /// (e.g. `rope_freqs.weight`) are returned unchanged.
    static func huggingFace(_ name: String) -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return name }
        if parts.count == 2, let base = global[parts[0]] {
            return "\(base).\(suffix)"
        }
        if parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
           let base = perLayer[parts[2]] {
            return "model.layers.\(layer).\(base).\(suffix)"
        }
        if parts.count == 4, parts[0] == "blk", parts[2] == "exp_probs_b", let layer = Int(parts[1]) {
            // DeepSeek-V3's router correction bias.
            return "model.layers.\(layer).mlp.gate.e_score_correction_bias"
        }
        return name
    }

    /// Whether a GGUF tensor holds Q or K projection rows that llama.cpp permuted at
    /// conversion time, and if so with how many heads.
    enum RotaryRows { case query, key }

    static func rotaryRows(_ name: String) -> RotaryRows? {
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", parts[3] == "weight" || parts[3] == "bias" else { return nil }
        switch parts[2] {
        case "attn_q": return .query
        case "attn_k": return .key
        default: return nil
        }
    }
}
