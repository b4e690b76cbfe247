import Foundation
import TestSupport
import Testing
import TesseraDistributed
import TesseraModels
import TesseraTensor
@testable import TesseraEngine

/// `ModelRunner` over worlds handed in from outside: a rank failing in the middle of a step,
/// and tasks run on every rank.
@Suite struct ModelRunnerTests {
    /// Thread ranks whose rank `failingRank` has its TP communicator behind `fuse`.
    final class FusedWorld: RankWorld {
        let base: InProcessWorld
        let failingRank: Int
        let fuse = CollectiveFuse()

        init(_ parallel: ParallelConfig, failingRank: Int) {
            base = InProcessWorld(grid: RankGrid(parallel))
            self.failingRank = failingRank
        }

        var grid: RankGrid { base.grid }
        var hostedRanks: [Int] { base.hostedRanks }
        var ranksOnThisMachine: Int { base.ranksOnThisMachine }
        var stepChannel: (any StepChannel)? { nil }
        var failure: (rank: Int, error: any Error)? { base.failure }
        func abort(rank: Int, error: any Error) { base.abort(rank: rank, error: error) }

        /// Every communicator is a `FailingCommunicator`; only rank `failingRank`'s TP one has
        /// `fuse`, the others an unarmed fuse of their own (they never fail).
        func communicators(rank: Int) -> RankCommunicators<FailingCommunicator> {
            let plain = base.communicators(rank: rank)
            return RankCommunicators(
                rank: rank,
                tp: FailingCommunicator(base: plain.tp, reportedRank: rank, fuse: rank == failingRank ? fuse : CollectiveFuse()),
                cp: FailingCommunicator(base: plain.cp, reportedRank: rank, fuse: CollectiveFuse()))
        }
    }

    /// Three prompt tokens of one sequence in block 0.
    static let batch = ForwardBatch(
        tokens: [5, 6, 7], positions: [0, 1, 2],
        sequences: [SequenceSpan(tokenRange: 0..<3, contextLength: 0, blockTable: [0])], logitIndices: [2])

    /// Rank 1 of tp=2 fails in the third collective of a step: the caller of `forward`, a
    /// second caller queued behind it and a thread in `waitUntilStopped()` all get rank 1's
    /// error; every later call throws it at once, and `shutdown()` returns.
    @Test func aRankFailingMidStepWakesEveryWaiterWithItsError() throws {
        let model = try EngineModels.tinyLlama.get()
        let world = FusedWorld(try ParallelConfig(tp: 2, cp: 1, model: model.config, blockSize: 4), failingRank: 1)
        let runner = try ModelRunner(config: model.config, weights: model.weights, world: world, numBlocks: 8, kvCacheDType: .f32)
        let loaded = world.fuse.count
        let healthy = try runner.forward(Self.batch)
        #expect(healthy.shape == [1, model.config.vocabSize])
        #expect(world.fuse.count - loaded > 3, "a step makes more than 3 collectives, so the third is mid-step")

        world.fuse.arm(failingCollective: 3)
        let cause = "collective \(world.fuse.count + 3)"
        let stopped = Thread.detachedResult { try runner.waitUntilStopped() }
        let second = Thread.detachedResult { _ = try runner.forward(Self.batch) }
        let outcome = withDeadline(seconds: 60) { try runner.forward(Self.batch) }
        guard case .failure(let error)? = outcome else {
            Issue.record("expected rank 1's error, got \(String(describing: outcome))")
            return
        }
        let message = "\(error)"
        #expect(message.hasPrefix("rank 1: injected failure in ") && message.hasSuffix(cause), "\(message)")
        for waiter in [second, stopped] {
            switch waiter.wait(seconds: 60) {
            case .failure(let error)?: #expect("\(error)" == message)
            case let other: Issue.record("a waiter got \(String(describing: other)), not rank 1's error")
            }
        }
        #expect(throws: (any Error).self) { _ = try runner.forward(Self.batch) }
        #expect(throws: (any Error).self) { try runner.runOnEveryRank(task: 0) }
        #expect(withDeadline(seconds: 60) { runner.shutdown() } != nil, "shutdown returns")
    }

    /// The task named runs once on every rank (tp=2 cp=2: ranks 0 and 1), with its arguments
    /// and that rank's cache, between forward passes that it leaves as they were.
    @Test func runOnEveryRankRunsTheTaskOnEveryRank() throws {
        let model = try EngineModels.tinyQwen3.get()
        let seen = Seen()
        let tasks: [RankTask] = [
            { state, _ in seen.add(rank: state.rank.rank, arguments: [-1], blocks: state.cache.numBlocks) },
            { state, arguments in seen.add(rank: state.rank.rank, arguments: arguments, blocks: state.cache.numBlocks) },
        ]
        let parallel = try ParallelConfig(tp: 2, cp: 2, model: model.config, blockSize: 4)
        let runner = try ModelRunner(config: model.config, weights: model.weights, parallel: parallel, numBlocks: 8,
                                     kvCacheDType: .f32, tasks: tasks)
        defer { runner.shutdown() }
        let before = try runner.forward(Self.batch)
        try runner.runOnEveryRank(task: 1, arguments: [7, 9])
        #expect(seen.entries.sorted { $0.rank < $1.rank } == (0..<2).map { .init(rank: $0, arguments: [7, 9], blocks: 8) })
        #expect(try runner.forward(Self.batch).data == before.data)
    }

    /// What the ranks' tasks saw.
    final class Seen: @unchecked Sendable {
        struct Entry: Equatable { var rank: Int, arguments: [Int], blocks: Int }
        private let lock = NSLock()
        private var stored: [Entry] = []
        func add(rank: Int, arguments: [Int], blocks: Int) { lock.withLock { stored.append(Entry(rank: rank, arguments: arguments, blocks: blocks)) } }
        var entries: [Entry] { lock.withLock { stored } }
    }
}

/// A thread's result, waited for with a guard against hangs.
private final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    fileprivate func finish(_ value: Result<T, any Error>) {
        lock.withLock { result = value }
        done.signal()
    }

    /// The result, or nil when the thread has not ended within `seconds`.
    func wait(seconds: Double) -> Result<T, any Error>? {
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return lock.withLock { result }
    }
}

extension Thread {
    /// Runs `work` on a new thread at once.
    fileprivate static func detachedResult<T: Sendable>(_ work: @escaping @Sendable () throws -> T) -> ThreadResult<T> {
        let box = ThreadResult<T>()
        Thread { box.finish(Result { try work() }) }.start()
        return box
    }
}
