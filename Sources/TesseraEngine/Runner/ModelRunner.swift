import Foundation
import TesseraDistributed
import TesseraModels
import TesseraTensor

/// Runs the model over the ranks of a ``RankWorld``, one thread per rank this process hosts,
/// every rank holding its shard of the weights and its slice of the KV cache for the whole life
/// of the runner. The only thing that starts ranks and posts steps to them.
///
/// Thread ranks (the default) host every rank here; one rank is the same code path with a world
/// of one. Under process ranks (Open MPI) every process builds the same runner over its one
/// rank: rank 0's process runs the engine and relays each step to the others over the world's
/// ``StepChannel``; the others call ``waitUntilStopped()`` and run what they receive.
///
/// `forward` posts the step to every rank and returns rank 0's logits; a failure on any rank
/// ends the runner and reaches the caller as that rank's error.
public final class ModelRunner: StepExecutor, @unchecked Sendable {
    public let config: ModelConfig
    public let parallel: ParallelConfig
    /// Physical KV blocks on each rank; the same block ids are valid on every rank.
    public let numBlocks: Int
    public let kvCacheDType: KVCacheDType
    public let cpCombine: CPCombine
    /// Per hosted rank (rank 0 first where it is hosted): seconds spent inside collectives,
    /// waiting for the other ranks included.
    package let communicationClocks: [CommunicationClock]
    private let board: StepBoard
    private let lock = NSLock()

    /// Thread ranks: `parallel.tp` threads of this process.
    public convenience init(
        config: ModelConfig, weights: any WeightSource, parallel: ParallelConfig,
        numBlocks: Int, kvCacheDType: KVCacheDType, cpCombine: CPCombine = .allGatherReduceScatter,
        tasks: [RankTask] = []
    ) throws {
        try self.init(
            config: config, weights: weights, world: InProcessWorld(grid: RankGrid(parallel)),
            numBlocks: numBlocks, kvCacheDType: kvCacheDType, cpCombine: cpCombine, tasks: tasks)
    }

    /// Starts the ranks `world` hosts here; each loads its shard and allocates its cache before
    /// this returns (or throws the first rank's failure).
    /// - Parameter tasks: work ``runOnEveryRank(task:arguments:)`` can run on every rank.
    public init<World: RankWorld>(
        config: ModelConfig, weights: any WeightSource, world: World,
        numBlocks: Int, kvCacheDType: KVCacheDType, cpCombine: CPCombine = .allGatherReduceScatter,
        tasks: [RankTask] = []
    ) throws {
        let parallel = world.grid.config
        self.config = config
        self.parallel = parallel
        self.numBlocks = numBlocks
        self.kvCacheDType = kvCacheDType
        self.cpCombine = cpCombine
        let board = StepBoard(ranks: world.hostedRanks.count)
        self.board = board
        let clocks = world.hostedRanks.map { _ in CommunicationClock() }
        communicationClocks = clocks
        let hosted = world.hostedRanks
        let channel = world.stepChannel
        let ranksSharingCores = world.ranksOnThisMachine

        let launcher = Thread {
            do {
                _ = try RankLauncher.run(world: world) { communicators in
                    do {
                        let clock = clocks[hosted.firstIndex(of: communicators.rank)!]
                        let rank = try RankContext(
                            parallel: parallel, rank: communicators.rank,
                            tp: TimedCommunicator(communicators.tp, clock: clock),
                            cp: TimedCommunicator(communicators.cp, clock: clock), cpCombine: cpCombine,
                            ranksSharingCores: ranksSharingCores)
                        var source: any StepSource =
                            switch (channel, rank.rank) {
                            case (nil, _): BoardSource(board: board)
                            case (let channel?, 0): RelayingSource(board: BoardSource(board: board), channel: channel)
                            case (let channel?, _): ChannelSource(channel: channel)
                            }
                        try Self.serve(
                            rank: rank, config: config, weights: weights, numBlocks: numBlocks, dtype: kvCacheDType,
                            tasks: tasks, source: &source, board: board)
                    } catch {
                        board.fail(error)
                        throw error
                    }
                }
            } catch {
                board.fail(error)
            }
            board.markStopped()
        }
        launcher.name = "tessera-ranks"
        launcher.start()
        try board.waitUntilReady()
    }

    /// The loop of one rank: load, then run every step until the source ends.
    private static func serve(
        rank: RankContext, config: ModelConfig, weights: any WeightSource, numBlocks: Int,
        dtype: KVCacheDType, tasks: [RankTask], source: inout any StepSource, board: StepBoard
    ) throws {
        let model = try TransformerModel(config: config, weights: weights, rank: rank)
        let cache = PagedKVCache(config: config, numBlocks: numBlocks, blockSize: rank.parallel.blockSize, dtype: dtype, rank: rank)
        board.markReady()
        while let (step, work) = try source.next() {
            switch work {
            case .forward(let batch):
                let logits = try model.forward(batch, cache: cache)
                if rank.rank == 0 { board.deliver(step: step, logits: logits) }
            case .task(let index, let arguments):
                guard tasks.indices.contains(index) else {
                    throw RunnerError.malformedStep("task \(index) of \(tasks.count)")
                }
                try tasks[index](RankState(rank: rank, model: model, cache: cache), arguments)
                try rank.tp.barrier()
                if rank.rank == 0 { board.deliver(step: step, logits: Tensor(zeros: [0])) }
            }
        }
    }

    /// One forward pass on every rank; logits `[batch.logitIndices.count, vocab]`.
    public func forward(_ batch: ForwardBatch) throws -> Tensor {
        try lock.withLock { try board.run(.forward(batch)) }
    }

    /// Runs `tasks[task]` (given at init) with `arguments` on every rank; returns once all have.
    public func runOnEveryRank(task: Int, arguments: [Int] = []) throws {
        precondition(task >= 0, "task index \(task)")
        _ = try lock.withLock { try board.run(.task(index: task, arguments: arguments)) }
    }

    /// Stops the ranks (and, from rank 0, those of other processes) and waits until this
    /// process's rank threads have ended. The runner is unusable after.
    public func shutdown() {
        board.close()
        try? board.waitUntilStopped()
    }

    /// For the ranks of a multi-process run other than 0: returns when rank 0 stops the run,
    /// throws when a rank failed.
    public func waitUntilStopped() throws {
        try board.waitUntilStopped()
    }

    public var blockSize: Int { parallel.blockSize }
    public var contextParallelSize: Int { parallel.cp }

    deinit { board.close() }
}
