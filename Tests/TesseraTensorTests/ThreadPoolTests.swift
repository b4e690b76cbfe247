import Foundation
import Synchronization
import Testing
@testable import TesseraTensor

/// The pool's contract, checked by counting: every chunk exactly once, worker indices in range,
/// regions serialised, a slow chunk not holding up the others, workers that sleep and wake.
@Suite("ThreadPool")
struct ThreadPoolTests {
    /// Per-chunk run counts and the worker that ran each chunk, shared with the pool's threads.
    final class Record: @unchecked Sendable {
        let runs: UnsafeMutablePointer<Atomic<Int>>
        let workers: UnsafeMutablePointer<Atomic<Int>>
        let count: Int

        init(_ count: Int) {
            self.count = count
            runs = .allocate(capacity: max(count, 1))
            workers = .allocate(capacity: max(count, 1))
            for i in 0..<count {
                (runs + i).initialize(to: Atomic(0))
                (workers + i).initialize(to: Atomic(-1))
            }
        }

        deinit {
            runs.deinitialize(count: count).deallocate()
            workers.deinitialize(count: count).deallocate()
        }

        func note(_ chunk: Int, _ worker: Int) {
            runs[chunk].add(1, ordering: .relaxed)
            workers[chunk].store(worker, ordering: .relaxed)
        }

        func runCounts() -> [Int] { (0..<count).map { runs[$0].load(ordering: .relaxed) } }
        func workerOf(_ chunk: Int) -> Int { workers[chunk].load(ordering: .relaxed) }
    }

    @Test(arguments: [1, 2, 3, 8, 16])
    func everyChunkExactlyOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        #expect(pool.threads == threads)
        for chunks in [0, 1, 2, 7, 1000] {
            let record = Record(chunks)
            pool.run(chunks) { chunk, worker in record.note(chunk, worker) }
            #expect(record.runCounts() == Array(repeating: 1, count: chunks), "threads \(threads) chunks \(chunks)")
            let workers = (0..<chunks).map(record.workerOf)
            #expect(workers.allSatisfy { (0..<threads).contains($0) }, "threads \(threads) chunks \(chunks)")
            if chunks == 1 { #expect(workers == [0], "one chunk runs on the caller") }
        }
    }

    /// Plain (non-atomic) writes by the chunks are all visible to the caller after `run`.
    @Test func writesAreVisibleAfterRun() {
        let pool = ThreadPool(threads: 3)
        let n = 4096
        let output = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        defer { output.deallocate() }
        for round in 0..<50 {
            output.initialize(repeating: -1)
            nonisolated(unsafe) let out = output
            pool.run(n / 64) { chunk, _ in
                for i in chunk * 64..<(chunk + 1) * 64 { out[i] = i &* i &+ round }
            }
            #expect((0..<n).allSatisfy { output[$0] == $0 &* $0 &+ round }, "round \(round)")
        }
    }

    @Test func tenThousandRegionsBackToBack() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        var expected = 0
        for region in 0..<10_000 {
            let chunks = 1 + region % 4
            expected += chunks * (region + 1)
            pool.run(chunks) { _, _ in total.add(region + 1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == expected)
    }

    /// Four threads share one pool: each region still runs all its chunks once, and no chunk of
    /// one caller's region runs while a chunk of another's is running (one region at a time).
    @Test func regionsFromFourThreadsAreSerialised() async {
        let pool = ThreadPool(threads: 3)
        let callers = 4, regions = 200, chunks = 5
        let inFlight = Record(callers)         /* runs[t]: chunks of caller t now running */
        let shared = Record(3)                 /* runs: [overlaps, wrong counts, callers ready] */
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    /// A thread of its own, so that the four really call at once.
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        Thread.detachNewThread {
                            shared.runs[2].add(1, ordering: .relaxed)
                            while shared.runs[2].load(ordering: .relaxed) < callers {}
                            for _ in 0..<regions {
                                let record = Record(chunks)
                                pool.run(chunks) { chunk, worker in
                                    inFlight.runs[caller].add(1, ordering: .relaxed)
                                    Self.busy(microseconds: 10)
                                    for other in 0..<callers where other != caller {
                                        if inFlight.runs[other].load(ordering: .relaxed) != 0 {
                                            shared.runs[0].add(1, ordering: .relaxed)
                                        }
                                    }
                                    record.note(chunk, worker)
                                    inFlight.runs[caller].subtract(1, ordering: .relaxed)
                                }
                                if record.runCounts() != Array(repeating: 1, count: chunks) {
                                    shared.runs[1].add(1, ordering: .relaxed)
                                }
                            }
                            done.resume()
                        }
                    }
                }
            }
        }
        #expect(shared.runCounts() == [0, 0, callers], "[overlapping chunks, regions with wrong counts, callers]")
    }

    /// Spins (no sleep: the thread stays on its CPU) for about `microseconds`.
    static func busy(microseconds: Int) {
        let end = ContinuousClock.now + .microseconds(microseconds)
        while ContinuousClock.now < end {}
    }

    /// A chunk that sleeps 50 ms on a worker (as a descheduled worker would) delays only itself:
    /// the other chunks are taken by the other threads and finish before it does, and `run`
    /// still waits for it.
    @Test(arguments: [2, 3])
    func slowChunkDelaysOnlyItself(threads: Int) {
        let pool = ThreadPool(threads: threads)
        let chunks = 40
        let record = Record(chunks)
        let slow = Record(2)                   /* runs: [0 none yet, 1 sleeping, 2 done; its chunk] */
        let finishedAfterSlow = Atomic<Int>(0)
        let start = ContinuousClock.now
        pool.run(chunks) { chunk, worker in
            if worker != 0 && slow.runs[0].compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged {
                slow.runs[1].store(chunk, ordering: .relaxed)
                Thread.sleep(forTimeInterval: 0.05)
                slow.runs[0].store(2, ordering: .sequentiallyConsistent)
            } else {
                /// Until a worker has taken the slow chunk (it may still be waking up).
                let giveUp = ContinuousClock.now + .seconds(2)
                while slow.runs[0].load(ordering: .relaxed) == 0 && ContinuousClock.now < giveUp {
                    Thread.sleep(forTimeInterval: 0.0001)
                }
                if slow.runs[0].load(ordering: .sequentiallyConsistent) == 2 {
                    finishedAfterSlow.add(1, ordering: .relaxed)
                }
            }
            record.note(chunk, worker)
        }
        let elapsed = ContinuousClock.now - start
        let slowChunk = slow.runs[1].load(ordering: .relaxed)
        #expect(slow.runs[0].load(ordering: .relaxed) == 2, "a worker ran the slow chunk, and run waited for it")
        #expect(record.runCounts() == Array(repeating: 1, count: chunks))
        #expect(elapsed >= .milliseconds(50))
        let slowWorker = record.workerOf(slowChunk)
        #expect(slowWorker != 0)
        #expect(
            (0..<chunks).filter { record.workerOf($0) == slowWorker } == [slowChunk],
            "the slow worker ran nothing else")
        #expect(finishedAfterSlow.load(ordering: .relaxed) == 0, "nothing waited for the slow chunk")
    }

    /// `run` returns only when every chunk has finished, even those still running on workers
    /// when the caller ran out of chunks to take.
    @Test func runWaitsForWorkersChunks() {
        let pool = ThreadPool(threads: 8)
        for round in 0..<20 {
            let record = Record(16)
            pool.run(16) { chunk, worker in
                Self.busy(microseconds: worker == 0 ? 5 : 300)
                record.note(chunk, worker)
            }
            #expect(record.runCounts() == Array(repeating: 1, count: 16), "round \(round)")
        }
    }

    /// Workers asleep (idle well past their spin) wake for a region and exit promptly when the
    /// pool goes away.
    @Test func sleepingWorkersWakeAndExitPromptly() {
        for threads in [2, 8] {
            var pool: ThreadPool? = ThreadPool(threads: threads)
            let record = Record(64)
            Thread.sleep(forTimeInterval: 0.2)
            pool!.run(64) { chunk, worker in
                record.note(chunk, worker)
                Thread.sleep(forTimeInterval: 0.001)
            }
            #expect(record.runCounts() == Array(repeating: 1, count: 64))
            let woke = Set((0..<64).map(record.workerOf))
            #expect(woke.count > 1, "sleeping workers were woken (threads \(threads))")
            Thread.sleep(forTimeInterval: 0.2)
            let start = ContinuousClock.now
            pool = nil
            let elapsed = ContinuousClock.now - start
            // A bound that catches a hang (a worker never woken to exit), not a timing: a loaded
            // machine measured 100.7 ms once.
            #expect(elapsed < .seconds(5), "destroying \(threads) threads took \(elapsed)")
        }
    }

    @Test func availableCPUs() {
        let cpus = ThreadPool.availableCPUs
        #expect(cpus >= 1)
        #expect(cpus <= ProcessInfo.processInfo.activeProcessorCount)
    }

    #if os(Linux)
    /// A thread bound to CPU 0 alone sees one CPU (the count follows the affinity mask).
    /// `sched_setaffinity` is looked up at run time: Glibc's module hides the GNU extensions.
    @Test func availableCPUsFollowsAffinity() async throws {
        typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
        let process = try #require(dlopen(nil, RTLD_NOW))
        let symbol = try #require(dlsym(process, "sched_setaffinity"))
        let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
        let seen = await withCheckedContinuation { (result: CheckedContinuation<(Int32, Int), Never>) in
            Thread.detachNewThread {
                var one = cpu_set_t()
                withUnsafeMutableBytes(of: &one) { $0[0] = 1 }
                let status = withUnsafeBytes(of: &one) { setAffinity(0, $0.count, $0.baseAddress!) }
                result.resume(returning: (status, ThreadPool.availableCPUs))
            }
        }
        #expect(seen.0 == 0)
        #expect(seen.1 == 1)
    }
    #endif
}
