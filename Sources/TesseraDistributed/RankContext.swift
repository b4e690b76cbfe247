/// Everything one rank's forward pass needs to know about the others: the validated parallel
/// configuration, its world rank, and its handles on the TP group (all ranks) and its CP group
/// (the ranks sharing its KV heads).
///
/// A single-rank run is a world of one with trivial communicators (``single(numHeads:numKVHeads:blockSize:)``),
/// so it runs the same code as a parallel one.
public struct RankContext: Sendable {
    public let parallel: ParallelConfig
    /// World rank, `0..<parallel.tp`; equal to its rank in the TP group.
    public let rank: Int
    /// The TP group: every rank, in rank order.
    public let tp: any Communicator
    /// This rank's CP group: ranks `[g*cp, (g+1)*cp)`, its CP rank being `rank % cp`.
    public let cp: any Communicator
    /// How the context partials of a CP group are combined.
    public let cpCombine: CPCombine
    /// Ranks of this run on this machine, this one included: they share its cores (all of
    /// them for thread ranks; under `mpirun`, the processes placed on this node).
    public let ranksSharingCores: Int

    /// Checks that the communicators are those of `rank` under `parallel`; errors name the values.
    public init(
        parallel: ParallelConfig, rank: Int, tp: any Communicator, cp: any Communicator,
        cpCombine: CPCombine = .allGatherReduceScatter, ranksSharingCores: Int? = nil
    ) throws(RankContextError) {
        guard rank >= 0 && rank < parallel.tp else { throw .rankOutOfRange(rank: rank, tp: parallel.tp) }
        guard tp.size == parallel.tp, tp.rank == rank else {
            throw .wrongGroup(group: "TP", rank: rank, expectedSize: parallel.tp, expectedRank: rank, size: tp.size, groupRank: tp.rank)
        }
        let cpRank = RankGrid(parallel).cpRank(of: rank)
        guard cp.size == parallel.cp, cp.rank == cpRank else {
            throw .wrongGroup(group: "CP", rank: rank, expectedSize: parallel.cp, expectedRank: cpRank, size: cp.size, groupRank: cp.rank)
        }
        self.parallel = parallel
        self.rank = rank
        self.tp = tp
        self.cp = cp
        self.cpCombine = cpCombine
        self.ranksSharingCores = max(1, ranksSharingCores ?? parallel.tp)
    }

    /// One rank, no parallelism, trivial communicators. `blockSize` only matters to validation
    /// of the interleave (1 here), so any positive value will do.
    public static func single(numHeads: Int, numKVHeads: Int, blockSize: Int = 16) throws(ParallelConfigError) -> RankContext {
        let parallel = try ParallelConfig(tp: 1, numHeads: numHeads, numKVHeads: numKVHeads, blockSize: blockSize)
        // Cannot fail: a world of one with communicators of size 1.
        return try! RankContext(parallel: parallel, rank: 0, tp: SingleRankCommunicator(), cp: SingleRankCommunicator())
    }

    public var grid: RankGrid { RankGrid(parallel) }
    /// This rank's place in its CP group, which selects its slice of every sequence.
    public var cpRank: Int { cp.rank }
    package var placement: KVPlacement { KVPlacement(parallel) }
}

/// How the ranks of a CP group combine their context partials (DESIGN.md, "One attention step").
public enum CPCombine: String, Sendable, CaseIterable, CustomStringConvertible {
    /// All-gather the LSEs, rescale locally, reduce-scatter the outputs over heads: two collectives.
    case allGatherReduceScatter = "ag-rs"
    /// One all-to-all carrying outputs and LSEs of each rank's heads to that rank, then a local merge.
    case allToAll = "a2a"

    public var description: String { rawValue }
}

/// Why a ``RankContext`` does not fit together; every message names the values.
public enum RankContextError: Error, CustomStringConvertible, Equatable {
    case rankOutOfRange(rank: Int, tp: Int)
    case wrongGroup(group: String, rank: Int, expectedSize: Int, expectedRank: Int, size: Int, groupRank: Int)

    public var description: String {
        switch self {
        case let .rankOutOfRange(rank, tp):
            "rank \(rank) outside 0..<\(tp) (tp=\(tp))"
        case let .wrongGroup(group, rank, expectedSize, expectedRank, size, groupRank):
            "rank \(rank): the \(group) communicator has size \(size) and rank \(groupRank), expected size \(expectedSize) and rank \(expectedRank)"
        }
    }
}
