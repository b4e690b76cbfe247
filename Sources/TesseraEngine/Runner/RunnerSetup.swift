import Foundation
import TesseraDistributed
import TesseraModels

/// How big the KV cache is and how it is stored.
public struct CacheSettings: Sendable {
    public var dtype: KVCacheDType
    public var blockSize: Int
    /// KV bytes per rank; nil sizes the cache for the run's ``CacheDemand``.
    public var budgetBytesPerRank: Int?
    /// Longest sequence served (`--max-model-len`); nil means the model's maximum. Resolved
    /// by ``ModelConfig/maxModelLen(requested:)``.
    public var maxModelLen: Int?

    public init(dtype: KVCacheDType = .f32, blockSize: Int = 16, budgetBytesPerRank: Int? = nil, maxModelLen: Int? = nil) {
        self.dtype = dtype
        self.blockSize = blockSize
        self.budgetBytesPerRank = budgetBytesPerRank
        self.maxModelLen = maxModelLen
    }
}

/// What a run asks of its cache: `sequences` sequences of up to `longestSequence` tokens.
///
/// Without a budget the cache is sized for all of them at once; with a budget it must hold at
/// least one (the rest of a batch waits, or is preempted, as the engine does).
public struct CacheDemand: Sendable {
    public var longestSequence: Int
    public var sequences: Int

    public init(longestSequence: Int, sequences: Int = 1) {
        self.longestSequence = longestSequence
        self.sequences = sequences
    }
}

/// A started runner, the capacity report of its cache and the run's resolved limits.
public struct RunnerSetup: Sendable {
    public let runner: ModelRunner
    public let plan: KVCapacityPlan
    /// The longest sequence served, from ``ModelConfig/maxModelLen(requested:)``: hand it to the engine.
    public let maxModelLen: Int

    /// Thread ranks; see ``start(_:parallel:cache:demand:tasks:world:)``.
    public static func start(
        _ model: OpenedModel, parallel: LLM.Parallel, cache: CacheSettings,
        demand: (_ maxModelLen: Int) throws -> CacheDemand, tasks: [RankTask] = []
    ) throws -> RunnerSetup {
        try start(model, parallel: parallel, cache: cache, demand: demand, tasks: tasks, world: InProcessWorld.init(grid:))
    }

    /// Validates the parallel configuration against the model, sizes the cache and starts the
    /// ranks `makeWorld` gives this process (each loads its shard).
    ///
    /// Under process ranks, rank 0 sizes the cache and sends the block count to the others,
    /// which take it as is: every rank allocates the same blocks.
    /// - Parameter demand: what the run needs of the cache, given the resolved max model length.
    public static func start<World: RankWorld>(
        _ model: OpenedModel, parallel: LLM.Parallel, cache: CacheSettings,
        demand: (_ maxModelLen: Int) throws -> CacheDemand, tasks: [RankTask] = [],
        world makeWorld: (RankGrid) throws -> World
    ) throws -> RunnerSetup {
        let config = try ParallelConfig(
            tp: parallel.tp, cp: parallel.cp, cpInterleave: parallel.cpInterleave, model: model.config, blockSize: cache.blockSize)
        let maxModelLen = try model.config.maxModelLen(requested: cache.maxModelLen)
        let world = try makeWorld(RankGrid(config))
        let plan: KVCapacityPlan
        if world.hostedRanks.contains(0) {
            plan = try capacityPlan(model.config, config, cache: cache, demand: try demand(maxModelLen), maxModelLen: maxModelLen)
            try world.stepChannel?.send(BlockCountMessage.encode(plan.blocksPerRank))
        } else {
            plan = try planFromRankZero(model.config, config, cache: cache, channel: world.stepChannel, maxModelLen: maxModelLen)
        }
        try checkMemory(plan, ranks: world.hostedRanks)
        let runner = try ModelRunner(
            config: model.config, weights: model.weights, world: world, numBlocks: plan.blocksPerRank,
            kvCacheDType: cache.dtype, cpCombine: parallel.cpCombine, tasks: tasks)
        return RunnerSetup(runner: runner, plan: plan, maxModelLen: maxModelLen)
    }

    /// The cache for `demand`: sized for it without a budget; with one, checked to hold at
    /// least one of its sequences.
    private static func capacityPlan(
        _ model: ModelConfig, _ parallel: ParallelConfig, cache: CacheSettings, demand: CacheDemand, maxModelLen: Int
    ) throws -> KVCapacityPlan {
        let longest = min(max(1, demand.longestSequence), maxModelLen)
        let oneSequence = KVPlacement(cp: parallel.cp, interleave: parallel.cpInterleave)
            .logicalBlocks(for: longest, blockSize: cache.blockSize)
        // Without a budget the cache is sized for the request: report concurrency at its length.
        let reportedLength = cache.budgetBytesPerRank == nil ? longest : maxModelLen
        let budget = try cache.budgetBytesPerRank
            ?? oneSequence * max(1, demand.sequences) * bytesPerBlock(model, parallel, cache: cache)
        let plan = try KVCapacityPlan(
            model: model, parallel: parallel, budgetBytesPerRank: budget,
            kvElementBytes: cache.dtype.bytesPerElement, maxModelLen: reportedLength)
        guard plan.blocksPerRank >= oneSequence else {
            throw RunnerSetupError.budgetTooSmall(budget: budget, tokens: plan.tokensPerGroup, needed: longest)
        }
        return plan
    }

    /// Refuses a cache this machine cannot hold (the KV slices of the ranks this process hosts
    /// against its physical memory) before any rank allocates it: a rank that would otherwise
    /// be killed mid-allocation fails the start with the reason instead.
    private static func checkMemory(_ plan: KVCapacityPlan, ranks: [Int]) throws {
        let perRank = plan.usedBytesPerRank
        let physical = ProcessInfo.processInfo.physicalMemory
        guard UInt64(perRank) * UInt64(ranks.count) <= physical else {
            throw RunnerSetupError.kvSliceDoesNotFit(bytesPerRank: perRank, ranks: ranks, physicalBytes: physical)
        }
    }

    /// A rank of another process: the plan with rank 0's block count.
    private static func planFromRankZero(
        _ model: ModelConfig, _ parallel: ParallelConfig, cache: CacheSettings, channel: (any StepChannel)?, maxModelLen: Int
    ) throws -> KVCapacityPlan {
        guard let channel else { throw RunnerError.malformedStep("expected the block count from rank 0") }
        let blocks = try BlockCountMessage.decode(try channel.receive())
        return try KVCapacityPlan(
            model: model, parallel: parallel, budgetBytesPerRank: blocks * bytesPerBlock(model, parallel, cache: cache),
            kvElementBytes: cache.dtype.bytesPerElement, maxModelLen: maxModelLen)
    }

    /// Bytes one KV block takes on one rank.
    private static func bytesPerBlock(_ model: ModelConfig, _ parallel: ParallelConfig, cache: CacheSettings) throws -> Int {
        let perToken = try KVCapacityPlan(
            model: model, parallel: parallel, budgetBytesPerRank: 0, kvElementBytes: cache.dtype.bytesPerElement, maxModelLen: 1
        ).bytesPerTokenPerRank
        return cache.blockSize * perToken
    }
}

public enum RunnerSetupError: Error, CustomStringConvertible {
    case budgetTooSmall(budget: Int, tokens: Int, needed: Int)
    case kvSliceDoesNotFit(bytesPerRank: Int, ranks: [Int], physicalBytes: UInt64)

    public var description: String {
        switch self {
        case let .budgetTooSmall(budget, tokens, needed):
            "--kv-cache-memory \(budget) bytes per rank holds \(tokens) tokens, fewer than the \(needed) one sequence needs"
        case let .kvSliceDoesNotFit(bytesPerRank, ranks, physicalBytes):
            "cannot allocate the KV cache: "
                + (ranks.count == 1
                    ? "rank \(ranks[0])'s slice of \(MemorySize.format(bytesPerRank)) exceeds"
                    : "the slices of \(ranks.count) ranks, \(MemorySize.format(bytesPerRank)) each, exceed")
                + " this machine's \(MemorySize.format(Int(physicalBytes))) of memory"
        }
    }
}
