import Testing
@testable import TesseraDistributed

@Suite struct RankGridTests {
    /// Every valid configuration of a range of shapes.
    static let shapes: [ParallelConfig] = {
        var configs: [ParallelConfig] = []
        for kv in [1, 2, 3, 4, 8] {
            for heads in [kv, 2 * kv, 4 * kv, 8 * kv, 16 * kv] {
                for tp in 1...16 {
                    for cp in 1...16 {
                        if let config = try? ParallelConfig(tp: tp, cp: cp, numHeads: heads, numKVHeads: kv, blockSize: 16) {
                            configs.append(config)
                        }
                    }
                }
            }
        }
        return configs
    }()

    @Test func worksThroughManyShapes() {
        #expect(Self.shapes.count > 100, "\(Self.shapes.count) shapes")
        #expect(Self.shapes.contains { $0.cp > 1 && $0.numKVHeads > 1 })
    }

    @Test func gridIsTheReshapeOfTheRanks() {
        for config in Self.shapes {
            let grid = RankGrid(config)
            #expect(grid.tpGroup == Array(0..<config.tp))
            #expect(grid.numCPGroups == config.tp / config.cp)
            for (g, group) in grid.cpGroups.enumerated() {
                #expect(group == Array(g * config.cp..<(g + 1) * config.cp), "\(config)")
                for (c, rank) in group.enumerated() {
                    #expect(grid.cpGroupIndex(of: rank) == g && grid.cpRank(of: rank) == c)
                    #expect(grid.info(of: rank) == RankInfo(
                        rank: rank, cpGroup: g, cpRank: c,
                        queryHeads: grid.queryHeads(of: rank), kvHeads: grid.kvHeads(of: rank)))
                }
            }
        }
    }

    /// The invariant context parallelism rests on: the ranks of a CP group hold the same KV heads.
    @Test func cpGroupsShareTheirKVHeads() {
        for config in Self.shapes {
            let grid = RankGrid(config)
            for group in grid.cpGroups {
                let heads = Set(group.map { grid.kvHeads(of: $0) })
                #expect(heads.count == 1, "\(config): CP group \(group) holds \(heads)")
            }
        }
    }

    @Test func headsArePartitionedAndDuplicatedAsDesigned() {
        for config in Self.shapes {
            let grid = RankGrid(config)
            let ranks = 0..<config.tp
            // Query heads: consecutive, disjoint, covering all.
            #expect(ranks.flatMap { Array(grid.queryHeads(of: $0)) } == Array(0..<config.numHeads), "\(config)")
            // KV heads: every head on exactly `kvDuplication` consecutive ranks.
            for rank in ranks { #expect(grid.kvHeads(of: rank).count == grid.kvHeadsPerRank) }
            var holders = [Int: [Int]]()
            for rank in ranks {
                for head in grid.kvHeads(of: rank) { holders[head, default: []].append(rank) }
            }
            #expect(holders.keys.sorted() == Array(0..<config.numKVHeads), "\(config)")
            for (_, ranksOfHead) in holders {
                #expect(ranksOfHead.count == grid.kvDuplication)
                #expect(ranksOfHead == Array(ranksOfHead[0]..<ranksOfHead[0] + ranksOfHead.count))
            }
            // Grouped-query attention: a rank's query heads read only its own KV heads.
            let queriesPerKV = config.numHeads / config.numKVHeads
            for rank in ranks {
                for head in grid.queryHeads(of: rank) {
                    #expect(grid.kvHeads(of: rank).contains(head / queriesPerKV), "\(config) rank \(rank) head \(head)")
                }
            }
            // The CP group's gathered queries are its members' query heads.
            for (g, group) in grid.cpGroups.enumerated() {
                #expect(Array(grid.queryHeads(ofCPGroup: g)) == group.flatMap { Array(grid.queryHeads(of: $0)) })
            }
        }
    }

    @Test func exampleWithTwoKVHeadsOnFourRanks() throws {
        let grid = RankGrid(try ParallelConfig(tp: 4, cp: 2, numHeads: 16, numKVHeads: 2, blockSize: 16))
        #expect(grid.cpGroups == [[0, 1], [2, 3]])
        #expect(grid.kvDuplication == 2 && grid.kvHeadsPerRank == 1 && grid.queryHeadsPerRank == 4)
        #expect(grid.info(of: 3) == RankInfo(rank: 3, cpGroup: 1, cpRank: 1, queryHeads: 12..<16, kvHeads: 1..<2))
        #expect(grid.queryHeads(ofCPGroup: 1) == 8..<16)

        let split = RankGrid(try ParallelConfig(tp: 2, numHeads: 16, numKVHeads: 8, blockSize: 16))
        #expect(split.kvDuplication == 1 && split.kvHeadsPerRank == 4)
        #expect(split.kvHeads(of: 1) == 4..<8)
        #expect(split.cpGroups == [[0], [1]])
    }
}
