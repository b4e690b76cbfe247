/// The TP group and the CP groups of a ``RankGrid``, as in-process groups that fail together:
/// every rank a thread of this process.
///
/// Built once, before the rank threads start; rank r then takes ``communicators(rank:)``.
public final class InProcessWorld: RankWorld {
    public let grid: RankGrid
    /// All ranks.
    package let tpGroup: InProcessGroup
    /// One per grid row; CP group g's local rank c is world rank `g * cp + c`.
    package let cpGroups: [InProcessGroup]
    let domain: AbortDomain

    public init(grid: RankGrid) {
        self.grid = grid
        let domain = AbortDomain()
        self.domain = domain
        tpGroup = InProcessGroup(members: grid.tpGroup, domain: domain)
        cpGroups = grid.cpGroups.map { InProcessGroup(members: $0, domain: domain) }
    }

    public var size: Int { grid.worldSize }
    public var hostedRanks: [Int] { Array(0..<size) }
    public var ranksOnThisMachine: Int { size }
    public var stepChannel: (any StepChannel)? { nil }

    /// World rank `rank`'s handles on its groups.
    public func communicators(rank: Int) -> RankCommunicators<InProcessCommunicator> {
        let info = grid.info(of: rank)
        return RankCommunicators(
            rank: rank,
            tp: tpGroup.communicator(rank: rank),
            cp: cpGroups[info.cpGroup].communicator(rank: info.cpRank))
    }

    /// Fails every group of the world; see ``InProcessGroup/abort(rank:error:)``.
    public func abort(rank: Int, error: any Error) {
        domain.abort(rank: rank, error: error)
    }

    /// The first failure in any group of the world, if any.
    public var failure: (rank: Int, error: any Error)? {
        domain.cause.map { ($0.rank, $0.error) }
    }
}

/// The communicators one rank uses: the TP group (every rank; weight shards, all-reduce of
/// row-parallel outputs) and its CP group (the ranks sharing its KV heads; queries and
/// attention partials).
public struct RankCommunicators<C: Communicator>: Sendable {
    /// World rank.
    public let rank: Int
    public let tp: C
    public let cp: C

    public init(rank: Int, tp: C, cp: C) {
        self.rank = rank
        self.tp = tp
        self.cp = cp
    }
}
