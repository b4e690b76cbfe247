/// All the ranks of one run as this process sees them: the grid, the ranks it hosts (one
/// thread each), their communicators, and how to fail them all together.
///
/// Thread ranks (``InProcessWorld``) host every rank of the grid in one process. Process ranks
/// (Open MPI, the `TesseraMPI` module) host one rank each; rank 0's process then hands every
/// step to the others over a ``StepChannel``.
public protocol RankWorld: Sendable {
    associatedtype Comm: Communicator

    var grid: RankGrid { get }
    /// World ranks this process runs.
    var hostedRanks: [Int] { get }
    /// Ranks on this machine (this process's and other processes'), which share its cores.
    var ranksOnThisMachine: Int { get }
    /// World rank `rank`'s handles on its TP and CP groups; `rank` is one of ``hostedRanks``.
    func communicators(rank: Int) -> RankCommunicators<Comm>
    /// Fails every rank of the run because `rank` failed with `error`: every pending and later
    /// collective throws. Only the first cause counts.
    func abort(rank: Int, error: any Error)
    /// The first failure, once a rank has failed.
    var failure: (rank: Int, error: any Error)? { get }
    /// How rank 0 reaches the ranks of other processes; nil when this process hosts them all.
    var stepChannel: (any StepChannel)? { get }
}

/// The messages rank 0 sends to the ranks of other processes: one per step, each received by
/// every other process in order.
public protocol StepChannel: Sendable {
    /// Rank 0 only: hands `message` to every other process.
    func send(_ message: [UInt8]) throws(CommunicatorError)
    /// Ranks other than 0: the next message, waiting without spinning a core.
    func receive() throws(CommunicatorError) -> [UInt8]
}
