import TesseraDistributed
import TesseraModels

/// How big the KV cache is and how it is stored.
public struct CacheSettings: Sendable {
    public var dtype: KVCacheDType
    public var blockSize: Int
    /// KV bytes per rank; nil sizes the cache for `minimumSequenceLength` tokens only.
    public var budgetBytesPerRank: Int?
    /// Longest sequence served; nil means the model's maximum.
    public var maxModelLength: Int?

    public init(dtype: KVCacheDType = .f32, blockSize: Int = 16, budgetBytesPerRank: Int? = nil, maxModelLength: Int? = nil) {
        self.dtype = dtype
        self.blockSize = blockSize
        self.budgetBytesPerRank = budgetBytesPerRank
        self.maxModelLength = maxModelLength
    }

    /// The longest sequence served with `model`: `maxModelLength`, capped by the model's maximum.
    public func longestSequence(for model: ModelConfig) -> Int {
        min(maxModelLength ?? model.maxPositionEmbeddings, model.maxPositionEmbeddings)
    }
}

/// A started runner and the capacity report of its cache.
public struct RunnerSetup {
    public let runner: ModelRunner
    public let plan: KVCapacityPlan

    /// Validates the parallel configuration against the model, sizes the cache and starts the
    /// ranks (each loads its shard).
    /// - Parameter minimumSequenceLength: tokens one sequence must be able to hold.
    public static func start(
        _ model: OpenedModel, tp: Int, cp: Int, cpInterleave: Int, cpCombine: CPCombine = .allGatherReduceScatter,
        cache: CacheSettings, minimumSequenceLength: Int
    ) throws -> RunnerSetup {
        let parallel = try ParallelConfig(tp: tp, cp: cp, cpInterleave: cpInterleave, model: model.config, blockSize: cache.blockSize)
        // Without a budget the cache is sized for the request: report concurrency at its length.
        let maxLength = cache.budgetBytesPerRank == nil
            ? max(1, minimumSequenceLength)
            : cache.longestSequence(for: model.config)
        let bytesPerToken = try KVCapacityPlan(
            model: model.config, parallel: parallel, budgetBytesPerRank: 0,
            kvElementBytes: cache.dtype.bytesPerElement, maxModelLength: maxLength
        ).bytesPerTokenPerRank
        let placement = KVPlacement(cp: parallel.cp, interleave: parallel.cpInterleave)
        let needed = placement.logicalBlocks(for: minimumSequenceLength, blockSize: cache.blockSize)
        let budget = cache.budgetBytesPerRank ?? needed * cache.blockSize * bytesPerToken
        let plan = try KVCapacityPlan(
            model: model.config, parallel: parallel, budgetBytesPerRank: budget,
            kvElementBytes: cache.dtype.bytesPerElement, maxModelLength: maxLength)
        guard plan.blocksPerRank >= needed else {
            throw RunnerSetupError.budgetTooSmall(
                budget: budget, tokens: plan.tokensPerGroup, needed: minimumSequenceLength)
        }
        let runner = try ModelRunner(
            config: model.config, weights: model.weights, parallel: parallel,
            numBlocks: plan.blocksPerRank, kvCacheDType: cache.dtype, cpCombine: cpCombine)
        return RunnerSetup(runner: runner, plan: plan)
    }
}

public enum RunnerSetupError: Error, CustomStringConvertible {
    case budgetTooSmall(budget: Int, tokens: Int, needed: Int)

    public var description: String {
        switch self {
        case let .budgetTooSmall(budget, tokens, needed):
            "--kv-cache-memory \(budget) bytes per rank holds \(tokens) tokens, fewer than the \(needed) one sequence needs"
        }
    }
}
