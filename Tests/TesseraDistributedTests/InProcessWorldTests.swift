import Testing
@testable import TesseraDistributed

@Suite struct InProcessWorldTests {
    /// Every rank gets the TP group (all ranks, its world rank) and its own CP group (its grid
    /// row, its CP rank), and collectives in each stay inside that group.
    @Test(arguments: [(4, 2), (8, 4), (8, 2), (6, 3), (2, 1)])
    func givesEachRankItsTPAndCPCommunicators(tp: Int, cp: Int) throws {
        let grid = RankGrid(try ParallelConfig(tp: tp, cp: cp, numHeads: tp * 2, numKVHeads: 1, blockSize: 16))
        let world = InProcessWorld(grid: grid)
        let result = withDeadline(seconds: 30) {
            try RankLauncher.run(world: world) { comms in
                let cpRanks = try comms.cp.allGather([Float(comms.rank)])
                var tpSum: [Float] = [Float(comms.rank)]
                try comms.tp.allReduce(&tpSum)
                return (comms.tp.rank, comms.tp.size, comms.cp.rank, comms.cp.size, comms.cp.worldRank, cpRanks, tpSum[0])
            }
        }
        guard case .success(let results)? = result else {
            Issue.record("world run failed or timed out: \(String(describing: result))")
            return
        }
        for (rank, r) in results.enumerated() {
            let info = grid.info(of: rank)
            #expect(r.0 == rank && r.1 == tp)
            #expect(r.2 == info.cpRank && r.3 == cp && r.4 == rank)
            #expect(r.5 == grid.cpGroups[info.cpGroup].map(Float.init))
            #expect(r.6 == Float(tp * (tp - 1) / 2))
        }
    }
}
