/// How a model is spread over ranks: `tp`-way tensor parallelism, with the KV cache of every
/// sequence split `cp` ways along the sequence inside groups of ranks that share KV heads.
///
/// Frozen and validated once, at construction, against the model's head counts and the KV
/// block size; anything derived (groups, heads per rank, capacities) lives in ``RankGrid``,
/// ``KVPlacement`` and (in TesseraModels) `KVCapacityPlan`, computed from it and never written back. The head
/// counts and block size it was checked against are kept, so a value of this type is proof
/// that the combination is valid.
public struct ParallelConfig: Sendable, Equatable, CustomStringConvertible {
    /// Tensor-parallel degree; also the number of ranks (the world).
    public let tp: Int
    /// Context-parallel degree: ranks per CP group, which split each sequence's KV cache.
    public let cp: Int
    /// Consecutive tokens a CP rank owns before ownership moves to the next rank (DESIGN.md,
    /// "KV placement"); 1 deals tokens round-robin.
    public let cpInterleave: Int
    /// The model's query heads (`num_attention_heads`) this configuration was validated for.
    public let numHeads: Int
    /// The model's KV heads (`num_key_value_heads`) this configuration was validated for.
    public let numKVHeads: Int
    /// Tokens per physical KV block on one rank.
    public let blockSize: Int

    /// Validates `tp`, `cp` and `cpInterleave` against head counts and a block size.
    ///
    /// Rules, checked in this order: every value >= 1; query heads split evenly over `tp`;
    /// KV heads either split (`tp` divides them) or duplicated (they divide `tp`); `cp`
    /// divides `tp`; a CP group (`cp` consecutive ranks) holds one KV head set, which needs
    /// `cp` to divide the duplication factor `tp / numKVHeads` (so with split heads, where
    /// nothing is duplicated, only `cp = 1`); the interleave divides the block size.
    public init(
        tp: Int, cp: Int = 1, cpInterleave: Int = 1, numHeads: Int, numKVHeads: Int, blockSize: Int
    ) throws(ParallelConfigError) {
        for (name, value) in [
            ("tp", tp), ("cp", cp), ("cp_interleave", cpInterleave), ("block_size", blockSize),
            ("num_attention_heads", numHeads), ("num_kv_heads", numKVHeads),
        ] where value < 1 {
            throw .notPositive(name: name, value: value)
        }
        guard numHeads % tp == 0 else {
            throw .headsNotDivisibleByTP(numHeads: numHeads, tp: tp)
        }
        guard numKVHeads % tp == 0 || tp % numKVHeads == 0 else {
            throw .kvHeadsIncompatibleWithTP(tp: tp, numKVHeads: numKVHeads)
        }
        guard tp % cp == 0 else {
            throw .tpNotDivisibleByCP(tp: tp, cp: cp)
        }
        let duplication = max(1, tp / numKVHeads)
        guard cp <= duplication else {
            throw .cpExceedsDuplication(cp: cp, tp: tp, numHeads: numHeads, numKVHeads: numKVHeads)
        }
        // cp <= tp/Hkv is not enough: tp=6, Hkv=2, cp=2 gives the group {2, 3}, whose ranks
        // hold KV heads 0 and 1. Groups of consecutive ranks stay inside one head's run of
        // `duplication` ranks exactly when cp divides it.
        guard duplication % cp == 0 else {
            throw .cpDoesNotDivideDuplication(cp: cp, tp: tp, numHeads: numHeads, numKVHeads: numKVHeads)
        }
        guard blockSize % cpInterleave == 0 else {
            throw .interleaveDoesNotDivideBlockSize(cpInterleave: cpInterleave, blockSize: blockSize)
        }
        self.tp = tp
        self.cp = cp
        self.cpInterleave = cpInterleave
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.blockSize = blockSize
    }

    /// Ranks in the world: one per tensor-parallel shard.
    public var worldSize: Int { tp }

    public var description: String {
        "tp=\(tp) cp=\(cp) cp_interleave=\(cpInterleave) (\(numHeads) query heads, \(numKVHeads) KV heads, block_size=\(blockSize))"
    }
}

/// Why a ``ParallelConfig`` is invalid; every message names the offending values.
public enum ParallelConfigError: Error, CustomStringConvertible, Equatable {
    case notPositive(name: String, value: Int)
    case headsNotDivisibleByTP(numHeads: Int, tp: Int)
    case kvHeadsIncompatibleWithTP(tp: Int, numKVHeads: Int)
    case tpNotDivisibleByCP(tp: Int, cp: Int)
    /// `tp >= numKVHeads` but `cp > tp / numKVHeads`, or `tp < numKVHeads` (no duplication) and `cp > 1`.
    case cpExceedsDuplication(cp: Int, tp: Int, numHeads: Int, numKVHeads: Int)
    case cpDoesNotDivideDuplication(cp: Int, tp: Int, numHeads: Int, numKVHeads: Int)
    case interleaveDoesNotDivideBlockSize(cpInterleave: Int, blockSize: Int)

    public var description: String {
        switch self {
        case let .notPositive(name, value):
            return "\(name)=\(value) must be >= 1"
        case let .headsNotDivisibleByTP(numHeads, tp):
            return "num_attention_heads=\(numHeads) must be divisible by tp=\(tp)"
        case let .kvHeadsIncompatibleWithTP(tp, numKVHeads):
            return "tp=\(tp) and num_kv_heads=\(numKVHeads): one must divide the other"
        case let .tpNotDivisibleByCP(tp, cp):
            return "tp=\(tp) must be divisible by cp=\(cp)"
        case let .cpExceedsDuplication(cp, tp, numHeads, numKVHeads):
            let model = "for this model (\(numHeads) query heads, \(numKVHeads) KV heads)"
            if tp >= numKVHeads {
                return "cp=\(cp) exceeds tp/num_kv_heads = \(tp / numKVHeads) \(model)"
            }
            return "cp=\(cp) needs duplicated KV heads, but tp=\(tp) < num_kv_heads=\(numKVHeads) splits them (only cp=1 is possible) \(model)"
        case let .cpDoesNotDivideDuplication(cp, tp, numHeads, numKVHeads):
            return "cp=\(cp) must divide tp/num_kv_heads = \(tp / numKVHeads) so that each CP group holds one KV head "
                + "(\(numHeads) query heads, \(numKVHeads) KV heads, tp=\(tp))"
        case let .interleaveDoesNotDivideBlockSize(cpInterleave, blockSize):
            return "cp_interleave=\(cpInterleave) must divide block_size=\(blockSize)"
        }
    }
}
