import TesseraTensor

/// Seeded random weights for any Llama-family, Qwen2, Qwen3 or DeepSeek configuration (`--load-format dummy`):
/// runs a model's shape — its speed, its memory, its parallel layout — without its weights.
///
/// Every row of every tensor is drawn from its own stream, keyed by the seed, the tensor's name
/// and the row, so a rank that loads only its shard gets exactly the rows of the whole tensor.
public struct DummyWeightSource: WeightSource {
    public let config: ModelConfig
    public let seed: UInt64
    public let tensorInfos: [String: TensorInfo]

    /// Linear and embedding values are uniform in ±scale (std ≈ 0.02 at the default), so
    /// activations stay in the range real models have.
    public var scale: Float = 0.035

    public init(config: ModelConfig, seed: UInt64 = 0) {
        self.config = config
        self.seed = seed
        var infos: [String: TensorInfo] = [:]
        for (name, shape) in Self.shapes(config) {
            infos[name] = TensorInfo(name: name, shape: shape, dtype: .f32)
        }
        tensorInfos = infos
    }

    public func load(_ name: String) throws -> Tensor {
        try load(name, rows: 0..<(try info(name).shape[0]))
    }

    public func load(_ name: String, rows: Range<Int>) throws -> Tensor {
        let info = try info(name)
        guard rows.lowerBound >= 0, rows.upperBound <= info.shape[0] else {
            throw DummyWeightsError.rowsOutOfRange(name, rows, info.shape[0])
        }
        let width = info.shape.dropFirst().reduce(1, *)
        var data = [Float](repeating: 1, count: rows.count * width)
        if !name.hasSuffix("norm.weight") {
            data.withUnsafeMutableBufferPointer { out in
                for (i, row) in rows.enumerated() {
                    var random = SeededRandom(seed: seed ^ Self.fnv1a(name) &+ UInt64(row) &* 0x9E37_79B9_7F4A_7C15)
                    for j in 0..<width {
                        out[i * width + j] = (random.nextUnitFloat() * 2 - 1) * scale
                    }
                }
            }
        }
        return Tensor(shape: [rows.count] + info.shape.dropFirst(), data: data)
    }

    private func info(_ name: String) throws -> TensorInfo {
        guard let info = tensorInfos[name] else { throw DummyWeightsError.unknownTensor(name) }
        return info
    }

    /// Hugging Face names and shapes of every weight of `c`.
    static func shapes(_ c: ModelConfig) -> [(String, [Int])] {
        var all: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]), ("model.norm.weight", [c.hiddenSize])]
        if !c.tieWordEmbeddings { all.append(("lm_head.weight", [c.vocabSize, c.hiddenSize])) }
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            all += [(p + "input_layernorm.weight", [c.hiddenSize]), (p + "post_attention_layernorm.weight", [c.hiddenSize])]
            if let m = c.latentAttention {
                all += latentAttentionShapes(c, m, prefix: p + "self_attn.")
            } else {
                all += [
                    (p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize]),
                    (p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize]),
                    (p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize]),
                    (p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim]),
                ]
                if c.attentionQKVBias {
                    all += [(p + "self_attn.q_proj.bias", [c.qDim]), (p + "self_attn.k_proj.bias", [c.kvDim]),
                            (p + "self_attn.v_proj.bias", [c.kvDim])]
                }
                if c.attentionOutputBias { all.append((p + "self_attn.o_proj.bias", [c.hiddenSize])) }
            }
            if let e = c.experts, e.isExpertLayer(i) {
                all.append((p + "mlp.gate.weight", [e.numExperts, c.hiddenSize]))
                if e.scoring == .sigmoid { all.append((p + "mlp.gate.e_score_correction_bias", [e.numExperts])) }
                for x in 0..<e.numExperts {
                    all += mlpShapes(prefix: p + "mlp.experts.\(x).", hidden: c.hiddenSize, width: e.expertIntermediateSize)
                }
                if e.sharedExperts > 0 {
                    all += mlpShapes(prefix: p + "mlp.shared_experts.", hidden: c.hiddenSize,
                                     width: e.sharedExperts * e.expertIntermediateSize)
                }
            } else {
                all += mlpShapes(prefix: p + "mlp.", hidden: c.hiddenSize, width: c.intermediateSize)
            }
            if c.architecture == .qwen3 {
                all += [(p + "self_attn.q_norm.weight", [c.headDim]), (p + "self_attn.k_norm.weight", [c.headDim])]
            }
        }
        return all
    }

    private static func mlpShapes(prefix p: String, hidden: Int, width: Int) -> [(String, [Int])] {
        [(p + "gate_proj.weight", [width, hidden]), (p + "up_proj.weight", [width, hidden]),
         (p + "down_proj.weight", [hidden, width])]
    }

    private static func latentAttentionShapes(_ c: ModelConfig, _ m: LatentAttentionShape, prefix p: String) -> [(String, [Int])] {
        let queryRows = c.numHeads * m.queryHeadDim
        var all: [(String, [Int])] = [
            (p + "kv_a_proj_with_mqa.weight", [m.cacheWidth, c.hiddenSize]),
            (p + "kv_a_layernorm.weight", [m.kvLoraRank]),
            (p + "kv_b_proj.weight", [c.numHeads * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank]),
            (p + "o_proj.weight", [c.hiddenSize, c.numHeads * m.vHeadDim]),
        ]
        if let q = m.qLoraRank {
            all += [(p + "q_a_proj.weight", [q, c.hiddenSize]), (p + "q_a_layernorm.weight", [q]),
                    (p + "q_b_proj.weight", [queryRows, q])]
        } else {
            all.append((p + "q_proj.weight", [queryRows, c.hiddenSize]))
        }
        return all
    }

    /// A hash that is the same in every process (Swift's `Hasher` is seeded per process).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return hash
    }
}

public enum DummyWeightsError: Error, CustomStringConvertible {
    case unknownTensor(String)
    case rowsOutOfRange(String, Range<Int>, Int)

    public var description: String {
        switch self {
        case .unknownTensor(let name): "dummy weights: no tensor named \(name)"
        case .rowsOutOfRange(let name, let rows, let count): "dummy weights: rows \(rows) of \(name) outside 0..<\(count)"
        }
    }
}
