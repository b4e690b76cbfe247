import Testing
@testable import TesseraDistributed

/// Each collective against a direct computation, for 1, 2, 3, 4 and 8 ranks (8 ranks on a
/// 2-core machine: the ranks must sleep, not spin, while they wait).
@Suite struct CollectiveTests {
    static let sizes = [1, 2, 3, 4, 8]

    /// Runs `body` on `size` rank threads under a deadline; fails the test on an error or timeout.
    private func run<T: Sendable>(
        size: Int, seconds: Double = 60, _ body: @escaping @Sendable (InProcessCommunicator) throws -> T
    ) -> [T]? {
        switch withDeadline(seconds: seconds, { try RankLauncher.run(size: size, body) }) {
        case .success(let results): return results
        case .failure(let error):
            Issue.record("\(size) ranks failed: \(error)")
            return nil
        case nil:
            Issue.record("\(size) ranks did not finish within \(seconds) s (deadlock?)")
            return nil
        }
    }

    @Test(arguments: sizes)
    func allGatherConcatenatesInRankOrder(size: Int) {
        for count in [0, 1, 5] {
            guard let results = run(size: size, { comm in
                try comm.allGather(payload(rank: comm.rank, round: 0, count: count))
            }) else { return }
            let expected = (0..<size).flatMap { payload(rank: $0, round: 0, count: count) }
            for result in results { #expect(bits(result) == bits(expected)) }
        }
    }

    @Test(arguments: sizes)
    func reduceScatterGivesEachRankItsChunkOfTheSum(size: Int) {
        let chunk = 7
        guard let results = run(size: size, { comm in
            try comm.reduceScatter(payload(rank: comm.rank, round: 1, count: chunk * comm.size))
        }) else { return }
        let sum = sequentialSum((0..<size).map { payload(rank: $0, round: 1, count: chunk * size) })
        for (rank, result) in results.enumerated() {
            #expect(bits(result) == bits(Array(sum[rank * chunk..<(rank + 1) * chunk])))
        }
    }

    /// Summed in rank order on every rank: bit-identical results, equal to a sequential sum,
    /// also for counts that do not divide evenly among the ranks.
    @Test(arguments: sizes)
    func allReduceSumsInRankOrderAndAgreesBitForBit(size: Int) {
        for count in [0, 1, 3, 37, 1000] {
            guard let results = run(size: size, { comm in
                var values = payload(rank: comm.rank, round: count, count: count)
                try comm.allReduce(&values)
                return values
            }) else { return }
            let expected = sequentialSum((0..<size).map { payload(rank: $0, round: count, count: count) })
            for result in results { #expect(bits(result) == bits(expected), "count \(count)") }
        }
    }

    @Test(arguments: sizes)
    func broadcastCopiesTheRootsBuffer(size: Int) {
        guard let results = run(size: size, { comm in
            try (0..<comm.size).map { root in
                var values = payload(rank: comm.rank, round: root, count: 9)
                try comm.broadcast(&values, root: root)
                return values
            }
        }) else { return }
        for root in 0..<size {
            for result in results { #expect(bits(result[root]) == bits(payload(rank: root, round: root, count: 9))) }
        }
    }

    @Test(arguments: sizes)
    func allToAllTransposesTheChunks(size: Int) {
        let chunk = 3
        guard let results = run(size: size, { comm in
            try comm.allToAll(payload(rank: comm.rank, round: 2, count: chunk * comm.size))
        }) else { return }
        for (rank, result) in results.enumerated() {
            let expected = (0..<size).flatMap { source in
                payload(rank: source, round: 2, count: chunk * size)[rank * chunk..<(rank + 1) * chunk]
            }
            #expect(bits(result) == bits(expected))
        }
    }

    /// Writes made before a barrier are seen by every rank after it.
    @Test(arguments: sizes)
    func barrierOrdersWritesBeforeReads(size: Int) {
        let board = Locked([Int](repeating: -1, count: size))
        guard let results = run(size: size, { comm in
            var seen: [[Int]] = []
            for round in 0..<20 {
                board.withLock { $0[comm.rank] = round }
                try comm.barrier()
                seen.append(board.withLock { $0 })
                try comm.barrier()
            }
            return seen
        }) else { return }
        for seen in results {
            for (round, board) in seen.enumerated() { #expect(board == Array(repeating: round, count: size)) }
        }
    }

    struct StepPlan: Codable, Sendable, Equatable {
        var step: Int
        var tokens: [Int32]
        var note: String
    }

    @Test(arguments: sizes)
    func broadcastsValuesAndBytes(size: Int) {
        guard let results = run(size: size, { comm in
            var received: [StepPlan] = []
            var bytes: [[UInt8]] = []
            for step in 0..<10 {
                let root = step % comm.size
                let mine = StepPlan(step: step, tokens: Array(0..<Int32(step)), note: "from \(comm.rank)")
                received.append(try comm.broadcast(comm.rank == root ? mine : nil, root: root))
                bytes.append(try comm.broadcast(bytes: Array(repeating: UInt8(comm.rank), count: step), root: root))
            }
            return (received, bytes)
        }) else { return }
        for (plans, bytes) in results {
            for step in 0..<10 {
                let root = step % size
                #expect(plans[step] == StepPlan(step: step, tokens: Array(0..<Int32(step)), note: "from \(root)"))
                #expect(bytes[step] == Array(repeating: UInt8(root), count: step))
            }
        }
    }

    /// A communicator without its own value broadcast gets the protocol's JSON one.
    @Test(arguments: [1, 3])
    func defaultValueBroadcastGoesThroughBytes(size: Int) {
        guard let results = run(size: size, { comm in
            let wrapped = BytesOnly(base: comm)
            return try wrapped.broadcast(comm.rank == 0 ? StepPlan(step: 7, tokens: [1, 2], note: "é") : nil, root: 0)
        }) else { return }
        for plan in results { #expect(plan == StepPlan(step: 7, tokens: [1, 2], note: "é")) }
    }

    /// Many rounds back to back, every collective, payload sizes changing each round: a rank
    /// that runs ahead into the next round must never be mistaken for one of this round.
    @Test(arguments: [2, 3, 8])
    func manyRoundsBackToBack(size: Int) {
        let rounds = 300
        guard let results = run(size: size, { comm in
            var log: [[Float]] = []
            for round in 0..<rounds {
                let count = (round * 13) % 50 + 1
                let data = payload(rank: comm.rank, round: round, count: count * comm.size)
                switch round % 6 {
                case 0:
                    var values = data
                    try comm.allReduce(&values)
                    log.append(values)
                case 1: log.append(try comm.allGather(Array(data.prefix(count))))
                case 2: log.append(try comm.reduceScatter(data))
                case 3:
                    var values = data
                    try comm.broadcast(&values, root: round % comm.size)
                    log.append(values)
                case 4: log.append(try comm.allToAll(data))
                default:
                    try comm.barrier()
                    log.append([])
                }
            }
            return log
        }) else { return }
        for round in 0..<rounds {
            let count = (round * 13) % 50 + 1
            let inputs = (0..<size).map { payload(rank: $0, round: round, count: count * size) }
            for rank in 0..<size {
                let expected: [Float] = switch round % 6 {
                case 0: sequentialSum(inputs)
                case 1: inputs.flatMap { $0.prefix(count) }
                case 2: Array(sequentialSum(inputs)[rank * count..<(rank + 1) * count])
                case 3: inputs[round % size]
                case 4: inputs.flatMap { $0[rank * count..<(rank + 1) * count] }
                default: []
                }
                #expect(bits(results[rank][round]) == bits(expected), "round \(round) rank \(rank)")
            }
        }
    }
}

/// Forwards everything to an in-process communicator except the generic value broadcast,
/// so that the protocol's default (JSON over bytes) is used, as an MPI communicator would.
struct BytesOnly: Communicator {
    let base: InProcessCommunicator
    var rank: Int { base.rank }
    var size: Int { base.size }
    func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try base.allGather(send, into: recv)
    }
    func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try base.reduceScatter(send, into: recv)
    }
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) { try base.allReduce(buffer) }
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        try base.broadcast(buffer, root: root)
    }
    func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try base.allToAll(send, into: recv)
    }
    func barrier() throws(CommunicatorError) { try base.barrier() }
    func broadcast(bytes: [UInt8], root: Int) throws(CommunicatorError) -> [UInt8] { try base.broadcast(bytes: bytes, root: root) }
    func abort(_ error: any Error) { base.abort(error) }
}
