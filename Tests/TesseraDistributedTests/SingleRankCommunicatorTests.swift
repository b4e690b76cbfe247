import Testing
@testable import TesseraDistributed

/// The group of one: collectives are identities, bad arguments and aborts fail as in any group.
@Suite struct SingleRankCommunicatorTests {
    @Test func collectivesAreIdentities() throws {
        let comm = SingleRankCommunicator()
        #expect(comm.rank == 0 && comm.size == 1)
        let values: [Float] = [1.5, -2, 3.25]
        #expect(try comm.allGather(values) == values)
        #expect(try comm.reduceScatter(values) == values)
        #expect(try comm.allToAll(values) == values)
        var buffer = values
        try comm.allReduce(&buffer)
        try comm.broadcast(&buffer, root: 0)
        #expect(buffer == values)
        try comm.barrier()
    }

    @Test func badArgumentsAndAbortsFailLaterCollectives() throws {
        let comm = SingleRankCommunicator()
        var buffer: [Float] = [1]
        #expect(throws: CommunicatorError.self) { try comm.broadcast(&buffer, root: 1) }
        // Fail-stop: the group is aborted by the bad call.
        do {
            try comm.allReduce(&buffer)
            Issue.record("a collective after a failure succeeded")
        } catch let CommunicatorError.aborted(rank, cause) {
            #expect(rank == 0 && "\(cause)" == "rank 0: broadcast: root 1 outside 0..<1")
        }
        let other = SingleRankCommunicator()
        other.abort(CommunicatorError.encoding(rank: 0, message: "gone"))
        #expect(throws: CommunicatorError.self) { try other.barrier() }
        let fresh = SingleRankCommunicator()
        let send: [Float] = [1, 2]
        var recv = [Float](repeating: 0, count: 3)
        #expect(throws: CommunicatorError.self) {
            try send.withUnsafeBufferPointer { s in
                try recv.withUnsafeMutableBufferPointer { r in try fresh.allGather(s, into: r) }
            }
        }
    }
}
