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
