import Foundation
import TesseraDistributed

/// How many tokens of KV cache a memory budget buys under a ``ParallelConfig``.
///
/// Per rank: `layers * parts * kvHeadsPerRank * headDim * elementBytes` bytes per token (parts:
/// 2 for K and V, 1 for a latent-attention model's latent, whose one "KV head" every rank of
/// a TP group duplicates when cp = 1),
/// and whole blocks of `blockSize` tokens out of the budget. Every CP group holds the same
/// sequences (each for its own KV heads) and splits each sequence over its `cp` ranks, so
/// the engine as a whole holds `tokensPerRank * cp` tokens, whatever the number of groups.
/// With `cp = 1` and duplicated KV heads, that is just one rank's worth: the duplication
/// that context parallelism turns into capacity.
public struct KVCapacityPlan: Sendable, Equatable, CustomStringConvertible {
    public let parallel: ParallelConfig
    /// KV heads whose cache one rank stores (after splitting or duplication).
    public let kvHeadsPerRank: Int
    /// Bytes one token's K and V take on one rank, over all layers.
    public let bytesPerTokenPerRank: Int
    public let budgetBytesPerRank: Int
    public let blocksPerRank: Int
    public let maxModelLen: Int

    /// - Parameters:
    ///   - kvElementBytes: bytes per stored K/V element: 2 for f16/bf16, 4 for f32.
    ///   - maxModelLen: the longest sequence served; only used for ``maxConcurrency``.
    /// The block size is the one `parallel` was validated with.
    public init(
        model: ModelConfig, parallel: ParallelConfig, budgetBytesPerRank: Int,
        kvElementBytes: Int, maxModelLen: Int
    ) throws(KVCapacityPlanError) {
        guard model.numHeads == parallel.numHeads, model.numKVHeads == parallel.numKVHeads else {
            throw .modelMismatch(
                modelHeads: model.numHeads, modelKVHeads: model.numKVHeads,
                parallelHeads: parallel.numHeads, parallelKVHeads: parallel.numKVHeads)
        }
        guard model.numLayers >= 1, model.headDim >= 1 else {
            throw .invalidValue(name: "model shape", value: "num_hidden_layers=\(model.numLayers) head_dim=\(model.headDim)")
        }
        guard budgetBytesPerRank >= 0 else {
            throw .invalidValue(name: "KV cache budget per rank", value: "\(budgetBytesPerRank) bytes")
        }
        guard kvElementBytes >= 1 else {
            throw .invalidValue(name: "KV element size", value: "\(kvElementBytes) bytes")
        }
        guard maxModelLen >= 1 else {
            throw .invalidValue(name: "max model length", value: "\(maxModelLen)")
        }
        self.parallel = parallel
        kvHeadsPerRank = RankGrid(parallel).kvHeadsPerRank
        bytesPerTokenPerRank = model.numLayers * model.kvCacheParts * kvHeadsPerRank * model.headDim * kvElementBytes
        self.budgetBytesPerRank = budgetBytesPerRank
        blocksPerRank = budgetBytesPerRank / (parallel.blockSize * bytesPerTokenPerRank)
        self.maxModelLen = maxModelLen
    }

    public var blockSize: Int { parallel.blockSize }
    /// Token slots on one rank.
    public var tokensPerRank: Int { blocksPerRank * blockSize }
    /// Tokens the engine can hold: each rank of a CP group stores `1/cp` of every sequence.
    public var tokensPerGroup: Int { tokensPerRank * parallel.cp }
    /// Bytes of the budget the whole blocks use on each rank.
    public var usedBytesPerRank: Int { tokensPerRank * bytesPerTokenPerRank }
    /// Sequences of `maxModelLen` tokens that fit at once.
    public var maxConcurrency: Double { Double(tokensPerGroup) / Double(maxModelLen) }
    /// Whether a single sequence of `maxModelLen` tokens fits.
    public var fitsOneSequence: Bool { tokensPerGroup >= maxModelLen }

    public var description: String {
        "KV cache: \(Self.grouped(tokensPerGroup)) tokens (\(Self.grouped(tokensPerRank)) per rank x cp=\(parallel.cp)), "
            + "\(MemorySize.format(usedBytesPerRank)) per rank, max concurrency "
            + String(format: "%.1f", maxConcurrency) + "x at \(maxModelLen) tokens"
    }

    /// `1898592` as `1,898,592`, independent of the locale.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }
}

/// Why a ``KVCapacityPlan`` cannot be computed.
public enum KVCapacityPlanError: Error, CustomStringConvertible, Equatable {
    case invalidValue(name: String, value: String)
    /// The parallel configuration was validated against a different model.
    case modelMismatch(modelHeads: Int, modelKVHeads: Int, parallelHeads: Int, parallelKVHeads: Int)

    public var description: String {
        switch self {
        case let .invalidValue(name, value):
            "invalid \(name): \(value)"
        case let .modelMismatch(modelHeads, modelKVHeads, parallelHeads, parallelKVHeads):
            "the model has \(modelHeads) query heads and \(modelKVHeads) KV heads, but the parallel configuration "
                + "was validated for \(parallelHeads) query heads and \(parallelKVHeads) KV heads"
        }
    }
}
