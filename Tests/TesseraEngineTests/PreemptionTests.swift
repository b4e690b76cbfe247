import Foundation
import Testing
import TesseraModels
@testable import TesseraEngine

@Suite struct PreemptionTests {
    static let lengths = [7, 19, 3, 30, 11, 24, 5, 16, 9, 22]

    static func requests(_ params: SamplingParams) -> [EngineRequest] {
        lengths.enumerated().map { i, length in
            EngineRequest(id: "p\(i)", promptIDs: randomPrompt(length, seed: 50 + UInt64(i)), params: params)
        }
    }

    /// 10 sequences of up to 30 + 16 tokens in a cache of 16 blocks of 4 (64 tokens): they
    /// preempt each other all along, and still produce what an ample cache produces, greedy and
    /// seeded alike (the sampler's random state stays with the sequence).
    @Test(arguments: [false, true], [false, true])
    func aCacheTooSmallGivesTheSameOutputs(seeded: Bool, caching: Bool) async throws {
        let model = try EngineModels.tinyLlama.get()
        let params = seeded
            ? SamplingParams(temperature: 1, topP: 0.9, seed: 11, maxTokens: 16, ignoreEOS: true)
            : SamplingParams(maxTokens: 16, ignoreEOS: true)
        let requests = Self.requests(params)
        let options = EngineOptions(maxNumBatchedTokens: 24, maxNumSeqs: 10, enablePrefixCaching: caching)
        let (ample, _) = try EngineModels.engine(model, numBlocks: 200, options: options)
        let expected = try await runAll(ample, requests)
        #expect(ample.stats.preemptions == 0)
        ample.shutdown()

        let (small, _) = try EngineModels.engine(model, numBlocks: 16, options: options)
        defer { small.shutdown() }
        let outputs = try await runAll(small, requests)
        #expect(outputs.map(\.ids) == expected.map(\.ids))
        #expect(outputs.allSatisfy { $0.finish == .length && $0.ids.count == 16 })
        let stats = small.stats
        #expect(stats.preemptions > 0)
        #expect(outputs.map(\.preemptions).reduce(0, +) == stats.preemptions)
        #expect(stats.peakBlocksUsed <= 16)
        #expect(stats.blocksUsed == 0, "every block free at the end")
    }

    /// Requests aborted at random steps (queued, prefilling, decoding, preempted) end with
    /// `abort`; the rest finish with the outputs of an undisturbed run; no block leaks.
    @Test(arguments: [1, 2, 3])
    func randomAbortsMidFlightLeakNothing(seed: UInt64) async throws {
        let model = try EngineModels.tinyLlama.get()
        let params = SamplingParams(maxTokens: 20, ignoreEOS: true)
        let requests = Self.requests(params) + Self.requests(params).map { var r = $0; r.id += "b"; return r }
        let options = EngineOptions(maxNumBatchedTokens: 24, maxNumSeqs: 8)
        let (reference, _) = try EngineModels.engine(model, numBlocks: 300, options: options)
        let expected = try await runAll(reference, requests)
        reference.shutdown()

        var random = SeededRandom(seed: seed)
        let victims = requests.map(\.id).filter { _ in random.next() % 2 == 0 }
        try #require(!victims.isEmpty)
        // The first victim at step 8, mid-flight for sure; the others at random steps of the
        // first 80 (the run takes more, so some are aborted after they finished: no effect).
        var abortAt = [8: [victims[0]]]
        for id in victims.dropFirst() { abortAt[1 + Int(random.next() % 80), default: []].append(id) }
        let schedule = abortAt
        let engineBox = EngineBox()
        let executor = SteppingExecutor(try EngineModels.runner(model, numBlocks: 20)) { step in
            for id in schedule[step] ?? [] { engineBox.engine?.abort(id) }
        }
        let engine = try EngineCore(executor: executor, tokenizer: nil, options: options)
        engineBox.engine = engine
        defer { engine.shutdown(); engineBox.engine = nil }
        let outputs = try await runAll(engine, requests)
        for (i, request) in requests.enumerated() {
            let output = outputs[i]
            if output.finish == .abort {
                #expect(victims.contains(request.id))
                #expect(expected[i].ids.starts(with: output.ids), "an aborted request's tokens are a prefix of its output")
            } else {
                #expect(output.finish == .length)
                #expect(output.ids == expected[i].ids, "request \(request.id)")
            }
        }
        #expect(outputs[requests.firstIndex { $0.id == victims[0] }!].finish == .abort)
        let stats = engine.stats
        #expect(stats.blocksUsed == 0 && stats.running == 0 && stats.waiting == 0)
    }

    /// The engine a ``SteppingExecutor``'s hook aborts requests of (set once it exists).
    final class EngineBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: EngineCore?
        var engine: EngineCore? {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
    }

    /// Shutting down with requests in flight ends each of them with `abort`.
    @Test func shutdownAbortsEverything() async throws {
        let model = try EngineModels.tinyLlama.get()
        let executor = PausingExecutor(try EngineModels.runner(model, numBlocks: 200), pauseAt: 8)
        let engine = try EngineCore(executor: executor, tokenizer: nil)
        let requests = Self.requests(SamplingParams(maxTokens: 300, ignoreEOS: true))
        let streams = try requests.map { try engine.submit($0) }
        executor.waitUntilPaused()
        let stopper = Thread { engine.shutdown() }
        stopper.start()
        // Release the held step only once the shutdown has begun: until then a live id is
        // refused as a duplicate, from then on as `stopped`.
        while true {
            do throws(EngineError) {
                _ = try engine.submit(EngineRequest(id: requests[0].id, promptIDs: [4]))
                Issue.record("a live id was accepted again")
            } catch .stopped {
                break
            } catch {
                #expect(error == .duplicateRequestID(requests[0].id))
                sched_yield()
            }
        }
        executor.release()
        for stream in streams { #expect(try await collect(stream).finish == .abort) }
        #expect(throws: EngineError.stopped) { try engine.submit(EngineRequest(id: "late", promptIDs: [4])) }
    }

    /// cp=2: the same preemption pressure in logical blocks of 8 tokens (8 blocks per rank, 64
    /// tokens for the group) gives the single-rank ample-cache outputs.
    @Test func contextParallelPreemption() async throws {
        let model = try EngineModels.tinyQwen3.get()
        let requests = Self.requests(SamplingParams(maxTokens: 16, ignoreEOS: true))
        let options = EngineOptions(maxNumBatchedTokens: 24, maxNumSeqs: 10)
        let (ample, _) = try EngineModels.engine(model, numBlocks: 200, options: options)
        let expected = try await runAll(ample, requests)
        ample.shutdown()
        let (engine, _) = try EngineModels.engine(model, tp: 2, cp: 2, numBlocks: 8, blockSize: 4, options: options)
        defer { engine.shutdown() }
        let outputs = try await runAll(engine, requests)
        #expect(outputs.map(\.ids) == expected.map(\.ids))
        #expect(engine.stats.preemptions > 0 && engine.stats.blocksUsed == 0 && engine.stats.peakBlocksUsed <= 8)
    }
}
