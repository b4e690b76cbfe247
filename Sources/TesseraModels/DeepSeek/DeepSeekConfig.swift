import Foundation

/// Multi-head latent attention (DeepSeek-V2/V3, Kimi K2): per token the cache holds one
/// normalised latent of `kvLoraRank` values and one rotated shared key part of `qkRopeHeadDim`
/// values, for every query head at once.
///
/// In ``ModelConfig`` such a model has one KV head of `cacheWidth` values: that is what the
/// cache, the parallel layout (the latent is duplicated on every TP rank, so context
/// parallelism may use any divisor of tp) and the attention kernels see.
public struct LatentAttentionShape: Sendable, Equatable {
    /// Rank of the query down-projection; nil when the model projects queries directly (`q_proj`).
    public var qLoraRank: Int?
    public var kvLoraRank: Int
    public var qkNopeHeadDim: Int
    public var qkRopeHeadDim: Int
    public var vHeadDim: Int

    public init(qLoraRank: Int?, kvLoraRank: Int, qkNopeHeadDim: Int, qkRopeHeadDim: Int, vHeadDim: Int) {
        self.qLoraRank = qLoraRank
        self.kvLoraRank = kvLoraRank
        self.qkNopeHeadDim = qkNopeHeadDim
        self.qkRopeHeadDim = qkRopeHeadDim
        self.vHeadDim = vHeadDim
    }

    /// Values cached per token and layer: `[latent | rotated key part]`.
    public var cacheWidth: Int { kvLoraRank + qkRopeHeadDim }
    /// Width of one head's query before absorption: `[q_nope | q_pe]`.
    public var queryHeadDim: Int { qkNopeHeadDim + qkRopeHeadDim }
}

/// DeepSeek's mixture-of-experts feed-forward: routed experts chosen per token by a router,
/// plus shared experts every token goes through.
public struct MixtureOfExperts: Sendable, Equatable {
    public enum Scoring: String, Sendable {
        /// DeepSeek-V2: softmax over the router logits.
        case softmax
        /// DeepSeek-V3: sigmoid scores; experts are chosen on scores plus a correction bias,
        /// weighted by the unbiased scores.
        case sigmoid
    }

    public var numExperts: Int
    public var expertsPerToken: Int
    /// Intermediate width of each routed expert (and of each shared one).
    public var expertIntermediateSize: Int
    public var sharedExperts: Int
    /// Layers below this index use the dense MLP (`first_k_dense_replace`).
    public var firstDenseLayers: Int
    /// From `firstDenseLayers` on, every `layerFrequency`-th layer is MoE (`moe_layer_freq`).
    public var layerFrequency: Int
    public var scoring: Scoring
    /// Experts in `groups` equal groups; only the best `groupsPerToken` groups are chosen
    /// from (1 and 1: plain top-k).
    public var groups: Int
    public var groupsPerToken: Int
    /// Whether the chosen weights are renormalised to sum to 1.
    public var normalizeTopK: Bool
    public var routedScalingFactor: Float

    public init(
        numExperts: Int, expertsPerToken: Int, expertIntermediateSize: Int, sharedExperts: Int, firstDenseLayers: Int,
        layerFrequency: Int, scoring: Scoring, groups: Int, groupsPerToken: Int, normalizeTopK: Bool,
        routedScalingFactor: Float
    ) {
        self.numExperts = numExperts
        self.expertsPerToken = expertsPerToken
        self.expertIntermediateSize = expertIntermediateSize
        self.sharedExperts = sharedExperts
        self.firstDenseLayers = firstDenseLayers
        self.layerFrequency = layerFrequency
        self.scoring = scoring
        self.groups = groups
        self.groupsPerToken = groupsPerToken
        self.normalizeTopK = normalizeTopK
        self.routedScalingFactor = routedScalingFactor
    }

    /// Whether layer `index` is a mixture of experts (DeepSeek's reference code and vLLM;
    /// transformers ignores the frequency, which every released config sets to 1).
    public func isExpertLayer(_ index: Int) -> Bool {
        index >= firstDenseLayers && index % layerFrequency == 0
    }
}

/// YaRN rotary scaling (`rope_scaling.type: yarn`) as DeepSeek's reference code and
/// transformers compute it.
public struct YaRNScaling: Sendable, Equatable {
    public var factor: Double
    public var originalMaxPositions: Int
    public var betaFast: Double
    public var betaSlow: Double
    public var mscale: Double
    public var mscaleAllDim: Double
    /// Whether the correction range is rounded outward to whole dimensions (transformers' `truncate`).
    public var truncate: Bool

    public init(factor: Double, originalMaxPositions: Int, betaFast: Double = 32, betaSlow: Double = 1,
                mscale: Double = 1, mscaleAllDim: Double = 0, truncate: Bool = true) {
        self.factor = factor
        self.originalMaxPositions = originalMaxPositions
        self.betaFast = betaFast
        self.betaSlow = betaSlow
        self.mscale = mscale
        self.mscaleAllDim = mscaleAllDim
        self.truncate = truncate
    }

    static func magnitude(_ factor: Double, _ mscale: Double) -> Double {
        factor <= 1 ? 1 : 0.1 * mscale * Foundation.log(factor) + 1
    }

    /// Factor on the rotary cosines and sines.
    public var rotaryScale: Double {
        mscale != 0 && mscaleAllDim != 0
            ? Self.magnitude(factor, mscale) / Self.magnitude(factor, mscaleAllDim)
            : Self.magnitude(factor, 1)
    }

    /// Factor on the softmax scale: `m^2` with `m` from `mscale_all_dim` (1 without it).
    public var softmaxScale: Double {
        guard mscaleAllDim != 0 else { return 1 }
        let m = Self.magnitude(factor, mscaleAllDim)
        return m * m
    }
}
