import Foundation
import TesseraDistributed
import TesseraModels
import TesseraTensor

/// Runs the model over `tp` ranks, one thread each, every rank holding its shard of the weights
/// and its slice of the KV cache for the whole life of the runner.
///
/// One rank is the same code path with a world of one. `forward` posts the step to every rank
/// and returns rank 0's logits; a failure on any rank ends the runner and reaches the caller as
/// that rank's error.
public final class ModelRunner: StepExecutor, @unchecked Sendable {
    public let config: ModelConfig
    public let parallel: ParallelConfig
    /// Physical KV blocks on each rank; the same block ids are valid on every rank.
    public let numBlocks: Int
    public let kvCacheDType: KVCacheDType
    public let cpCombine: CPCombine
    private let board: StepBoard
    private let lock = NSLock()
    /// Per rank: seconds spent inside collectives (waiting for the other ranks included).
    public let communicationClocks: [CommunicationClock]

    public init(
        config: ModelConfig, weights: any WeightSource, parallel: ParallelConfig,
        numBlocks: Int, kvCacheDType: KVCacheDType, cpCombine: CPCombine = .allGatherReduceScatter
    ) throws {
        self.config = config
        self.parallel = parallel
        self.numBlocks = numBlocks
        self.kvCacheDType = kvCacheDType
        self.cpCombine = cpCombine
        let world = InProcessWorld(grid: RankGrid(parallel))
        let board = StepBoard(ranks: world.size)
        self.board = board
        let clocks = (0..<world.size).map { _ in CommunicationClock() }
        communicationClocks = clocks

        let launcher = Thread {
            do {
                _ = try RankLauncher.run(world: world) { communicators in
                    do {
                        let clock = clocks[communicators.rank]
                        let rank = try RankContext(
                            parallel: parallel, rank: communicators.rank,
                            tp: TimedCommunicator(communicators.tp, clock: clock),
                            cp: TimedCommunicator(communicators.cp, clock: clock), cpCombine: cpCombine)
                        try Self.serve(
                            rank: rank,
                            config: config, weights: weights, numBlocks: numBlocks, dtype: kvCacheDType, board: board)
                    } catch {
                        board.fail(error)
                        throw error
                    }
                }
            } catch {
                board.fail(error)
            }
        }
        launcher.name = "tessera-ranks"
        launcher.start()
        try board.waitUntilReady()
    }

    /// The loop of one rank: load, then run every posted step until the board closes.
    private static func serve(
        rank: RankContext, config: ModelConfig, weights: any WeightSource, numBlocks: Int,
        dtype: KVCacheDType, board: StepBoard
    ) throws {
        let model = try TransformerModel(config: config, weights: weights, rank: rank)
        let cache = PagedKVCache(config: config, numBlocks: numBlocks, blockSize: rank.parallel.blockSize, dtype: dtype, rank: rank)
        board.markReady()
        var seen = 0
        while let (step, work) = board.nextStep(after: seen) {
            seen = step
            switch work {
            case .forward(let batch):
                let logits = try model.forward(batch, cache: cache)
                if rank.rank == 0 { board.deliver(step: step, logits: logits) }
            case .fillCache(let blockTable, let tokens):
                CacheFiller.fill(cache, rank: rank, blockTable: blockTable, tokens: tokens)
                try rank.tp.barrier()
                if rank.rank == 0 { board.deliver(step: step, logits: Tensor(zeros: [0])) }
            }
        }
    }

    /// One forward pass on every rank; logits `[batch.logitIndices.count, vocab]`.
    public func forward(_ batch: ForwardBatch) throws -> Tensor {
        try lock.withLock { try board.run(.forward(batch)) }
    }

    /// Benchmarks only: fills positions `0..<tokens` of the sequence with this block table with
    /// random K/V on every rank, each its own slice, so decode steps can be timed at a long
    /// context without running its prefill.
    public func fillCacheForBenchmark(blockTable: [Int], tokens: Int) throws {
        _ = try lock.withLock { try board.run(.fillCache(blockTable: blockTable, tokens: tokens)) }
    }

    public var blockSize: Int { parallel.blockSize }
    public var contextParallelSize: Int { parallel.cp }

    /// Token capacity of the whole cache: each rank of a CP group holds 1/cp of every sequence.
    public var capacityTokens: Int { numBlocks * parallel.blockSize * parallel.cp }

    /// Logical blocks (of `blockSize * cp` tokens) a sequence of `tokens` tokens needs.
    public func blocksNeeded(tokens: Int) -> Int {
        KVPlacement(cp: parallel.cp, interleave: parallel.cpInterleave).logicalBlocks(for: tokens, blockSize: parallel.blockSize)
    }

    deinit { board.close() }
}
