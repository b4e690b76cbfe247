import Foundation
import Testing
@testable import TesseraDistributed

#if canImport(Glibc)
import Glibc
#endif

/// Failure handling: a failing rank must never leave the others blocked, and the caller must
/// learn the original error. Each test runs the ranks under a deadline, so a deadlock fails
/// the test instead of hanging the run.
@Suite struct FailureTests {
    /// Per rank: what it ended with.
    enum Outcome: Sendable {
        case finished
        case aborted(rank: Int, cause: String)
        case other(String)
    }

    private static func outcome(of error: any Error) -> Outcome {
        if case let CommunicatorError.aborted(rank, cause) = error { return .aborted(rank: rank, cause: "\(cause)") }
        return .other("\(error)")
    }

    /// Checks that the launcher ended (no deadlock) with exactly `expected` and returns it.
    private func launcherError(seconds: Double = 10, _ run: @escaping @Sendable () throws -> Void) -> (any Error)? {
        switch withDeadline(seconds: seconds, run) {
        case nil:
            Issue.record("the ranks did not all end within \(seconds) s: deadlock")
            return nil
        case .success:
            Issue.record("the launcher returned normally although a rank failed")
            return nil
        case .failure(let error):
            return error
        }
    }

    /// Rank 2 of 8 throws in round 5 while the others keep all-reducing: the caller gets
    /// rank 2's own error (not an `aborted` one), every other rank ends with `aborted` naming
    /// rank 2 and its error, and every thread ends.
    @Test func rankThrowingMidwayAbortsTheOthersAndSurfacesItsError() throws {
        let outcomes = Locked([Outcome?](repeating: nil, count: 8))
        let error = launcherError {
            _ = try RankLauncher.run(size: 8) { comm in
                do {
                    for round in 0..<100 {
                        if comm.rank == 2 && round == 5 { throw RankFailure(rank: 2, round: 5) }
                        var values = payload(rank: comm.rank, round: round, count: 64)
                        try comm.allReduce(&values)
                    }
                    outcomes.withLock { $0[comm.rank] = .finished }
                } catch {
                    outcomes.withLock { $0[comm.rank] = Self.outcome(of: error) }
                    throw error
                }
            }
        }
        #expect(error as? RankFailure == RankFailure(rank: 2, round: 5))
        for (rank, outcome) in outcomes.withLock({ $0 }).enumerated() where rank != 2 {
            guard case let .aborted(failedRank, cause) = outcome else {
                Issue.record("rank \(rank) ended with \(String(describing: outcome))")
                continue
            }
            #expect(failedRank == 2 && cause == "rank 2 failed on purpose in round 5")
        }
    }

    /// `abort` from outside wakes ranks blocked in a collective, and later collectives throw too.
    @Test func abortWakesEveryWaiterAndFailsLaterCollectives() throws {
        let group = InProcessGroup(size: 4)
        let laterErrors = Locked([String]())
        let error = launcherError {
            _ = try RankLauncher.run(group: group) { comm in
                if comm.rank == 3 {
                    // Never joins the all-reduce; the group is aborted while the others wait.
                    Thread.sleep(forTimeInterval: 0.2)
                    group.abort(rank: 3, error: RankFailure(rank: 3, round: 0))
                } else {
                    var values = [Float](repeating: 1, count: 4)
                    do { try comm.allReduce(&values) } catch {}
                }
                do {
                    try comm.barrier()
                } catch {
                    laterErrors.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(error as? RankFailure == RankFailure(rank: 3, round: 0))
        #expect(laterErrors.withLock { $0 } == Array(
            repeating: "collective aborted: rank 3 failed: rank 3 failed on purpose in round 0", count: 4))
        #expect(group.failure?.rank == 3)
    }

    /// Ranks calling different collectives, or one with different sizes, is detected and
    /// reported as a mismatch naming each rank's call, instead of corrupting memory.
    @Test func mismatchedCallsAreReported() {
        let error = launcherError {
            _ = try RankLauncher.run(size: 3) { comm in
                var values = [Float](repeating: 1, count: comm.rank == 1 ? 5 : 4)
                try comm.allReduce(&values)
            }
        }
        #expect("\(error.map { "\($0)" } ?? "")"
            == "collective mismatch in round 1: rank 0 called allReduce(4 floats), rank 1 called allReduce(5 floats), rank 2 called allReduce(4 floats)")

        let kinds = launcherError {
            _ = try RankLauncher.run(size: 2) { comm in
                try comm.barrier()
                if comm.rank == 0 { try comm.barrier() } else { var one: [Float] = [1]; try comm.broadcast(&one, root: 1) }
            }
        }
        #expect("\(kinds.map { "\($0)" } ?? "")"
            == "collective mismatch in round 2: rank 0 called barrier(), rank 1 called broadcast(1 floats, root: 1)")
    }

    @Test func invalidArgumentsFailTheGroupAndNameTheRank() {
        let error = launcherError {
            _ = try RankLauncher.run(size: 4) { comm in
                let send = [Float](repeating: 0, count: 3)
                var recv = [Float](repeating: 0, count: comm.rank == 2 ? 11 : 12)
                try send.withUnsafeBufferPointer { s in
                    try recv.withUnsafeMutableBufferPointer { r in try comm.allGather(s, into: r) }
                }
            }
        }
        #expect("\(error.map { "\($0)" } ?? "")" == "rank 2: allGather: recv holds 11 floats, needs size x send = 4 x 3")

        let root = launcherError {
            _ = try RankLauncher.run(size: 2) { comm in
                var values: [Float] = [1]
                try comm.broadcast(&values, root: 2)
            }
        }
        #expect("\(root.map { "\($0)" } ?? "")".hasSuffix("broadcast: root 2 outside 0..<2"))
    }

    /// In a world, a rank failing in its CP group's collective wakes ranks blocked in the TP group.
    @Test func failureInOneGroupWakesTheOtherGroups() throws {
        let grid = RankGrid(try ParallelConfig(tp: 4, cp: 2, numHeads: 8, numKVHeads: 1, blockSize: 16))
        let world = InProcessWorld(grid: grid)
        let error = launcherError {
            _ = try RankLauncher.run(world: world) { comms in
                if comms.rank == 3 {
                    // Rank 3 fails before its CP group's all-gather: rank 2 waits there,
                    // ranks 0 and 1 wait in the TP all-reduce.
                    Thread.sleep(forTimeInterval: 0.1)
                    throw RankFailure(rank: 3, round: 0)
                }
                if comms.rank == 2 { _ = try comms.cp.allGather([1]) }
                var values: [Float] = [1]
                try comms.tp.allReduce(&values)
            }
        }
        #expect(error as? RankFailure == RankFailure(rank: 3, round: 0))
        #expect(world.failure?.rank == 3)
    }

    /// Waiting ranks sleep: while rank 0 is busy for 300 ms, the other ranks, blocked in a
    /// barrier, use almost no CPU (spinning would burn about the 300 ms on each core).
    @Test(arguments: [2, 8])
    func waitingRanksDoNotSpin(size: Int) throws {
        let result = withDeadline(seconds: 20) {
            try RankLauncher.run(size: size) { comm -> Double in
                if comm.rank == 0 { Thread.sleep(forTimeInterval: 0.3) }
                let start = threadCPUSeconds()
                try comm.barrier()
                return threadCPUSeconds() - start
            }
        }
        guard case .success(let seconds)? = result else {
            Issue.record("barrier failed or timed out: \(String(describing: result))")
            return
        }
        let waiting = seconds.dropFirst().reduce(0, +)
        #expect(waiting < 0.1, "\(size - 1) waiting ranks used \(waiting) s of CPU in 0.3 s")
    }

    /// Rank threads get the stack size asked for (Foundation's default is smaller).
    @Test func rankThreadsHaveTheRequestedStack() throws {
        #if os(Linux)
        // A GNU extension the Glibc module does not import; RTLD_DEFAULT is a null handle.
        typealias GetAttributes = @convention(c) (pthread_t, UnsafeMutablePointer<pthread_attr_t>) -> Int32
        let symbol = try #require(dlsym(nil, "pthread_getattr_np"))
        let getAttributes = unsafeBitCast(symbol, to: GetAttributes.self)
        let sizes = try RankLauncher.run(size: 2) { _ -> Int in
            var attributes = pthread_attr_t()
            _ = getAttributes(pthread_self(), &attributes)
            defer { pthread_attr_destroy(&attributes) }
            var size = 0
            pthread_attr_getstacksize(&attributes, &size)
            return size
        }
        for size in sizes { #expect(size >= RankLauncher.defaultStackSize) }
        #endif
    }
}

/// CPU time the calling thread has used.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
