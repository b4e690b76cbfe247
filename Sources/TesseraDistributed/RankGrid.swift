/// The groups and head assignment derived from a ``ParallelConfig``.
///
/// Every group comes from one grid: ranks `0..<tp` reshaped to `(tp/cp, cp)`. Row `g` is CP
/// group `g` (ranks `[g*cp, (g+1)*cp)`), the whole grid is the TP group. Deriving all groups
/// from the same grid, rather than building each from "the world", is what keeps a rank's CP
/// rank, its KV heads and its slice of the sequence consistent with each other.
public struct RankGrid: Sendable, Equatable {
    public let config: ParallelConfig
    /// `grid[g][c]` is the rank with CP rank `c` in CP group `g`, i.e. `g * cp + c`.
    public let grid: [[Int]]

    public init(_ config: ParallelConfig) {
        self.config = config
        grid = (0..<config.tp / config.cp).map { g in Array(g * config.cp..<(g + 1) * config.cp) }
    }

    public var worldSize: Int { config.tp }
    /// The TP group: every rank, in rank order.
    public var tpGroup: [Int] { grid.flatMap { $0 } }
    /// The CP groups, one per grid row.
    public var cpGroups: [[Int]] { grid }
    public var numCPGroups: Int { grid.count }

    public var queryHeadsPerRank: Int { config.numHeads / config.tp }
    /// KV heads stored on each rank: a share of them when `tp <= numKVHeads`, else one.
    public var kvHeadsPerRank: Int { max(1, config.numKVHeads / config.tp) }
    /// How many ranks hold a copy of each KV head (1 when heads are split, `tp / numKVHeads`
    /// when they are duplicated). With CP, each copy holds `1/cp` of the tokens instead.
    public var kvDuplication: Int { max(1, config.tp / config.numKVHeads) }

    /// CP group (grid row) of `rank`.
    public func cpGroupIndex(of rank: Int) -> Int {
        checkRank(rank)
        return rank / config.cp
    }

    /// Position of `rank` within its CP group (grid column); this selects its KV slice.
    public func cpRank(of rank: Int) -> Int {
        checkRank(rank)
        return rank % config.cp
    }

    /// The `numHeads / tp` consecutive query heads `rank` computes.
    public func queryHeads(of rank: Int) -> Range<Int> {
        checkRank(rank)
        return rank * queryHeadsPerRank..<(rank + 1) * queryHeadsPerRank
    }

    /// The KV heads `rank` stores: `numKVHeads / tp` consecutive heads when they are split,
    /// else the single head `rank / (tp / numKVHeads)`, shared by that many consecutive ranks.
    public func kvHeads(of rank: Int) -> Range<Int> {
        checkRank(rank)
        if config.tp <= config.numKVHeads {
            return rank * kvHeadsPerRank..<(rank + 1) * kvHeadsPerRank
        }
        let head = rank / kvDuplication
        return head..<head + 1
    }

    /// The query heads of all ranks of CP group `group`: after the all-gather of queries in
    /// the CP attention step, each rank of the group attends with these over its KV slice.
    public func queryHeads(ofCPGroup group: Int) -> Range<Int> {
        precondition(group >= 0 && group < numCPGroups, "CP group \(group) outside 0..<\(numCPGroups)")
        let perGroup = queryHeadsPerRank * config.cp
        return group * perGroup..<(group + 1) * perGroup
    }

    /// Everything about one rank at once.
    package func info(of rank: Int) -> RankInfo {
        RankInfo(
            rank: rank, cpGroup: cpGroupIndex(of: rank), cpRank: cpRank(of: rank),
            queryHeads: queryHeads(of: rank), kvHeads: kvHeads(of: rank))
    }

    private func checkRank(_ rank: Int) {
        precondition(rank >= 0 && rank < config.tp, "rank \(rank) outside 0..<\(config.tp) (tp=\(config.tp))")
    }
}

/// One rank's place in a ``RankGrid``.
package struct RankInfo: Sendable, Equatable {
    package let rank: Int
    package let cpGroup: Int
    package let cpRank: Int
    package let queryHeads: Range<Int>
    package let kvHeads: Range<Int>
}
