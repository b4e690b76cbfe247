#if MPI
import CMPI
import TesseraDistributed

/// The ranks of an `mpirun` job, one per process: this process hosts world rank
/// `MPI_Comm_rank(MPI_COMM_WORLD)`. The TP group is (a duplicate of) the world; the CP groups
/// are the rows of the same ``RankGrid`` the thread ranks use, split from it.
public final class MPIWorld: RankWorld, @unchecked Sendable {
    public let grid: RankGrid
    public let rank: Int
    public let ranksOnThisMachine: Int
    private let tp: MPICommunicator
    private let cp: MPICommunicator
    private let channel: MPIStepChannel

    /// Builds the groups of `grid`; call on every process after ``MPIRuntime/initialize()``.
    /// Refuses a world whose size is not the grid's.
    public init(grid: RankGrid) throws(MPIError) {
        let world = tessera_mpi_comm_world()
        let (worldRank, worldSize) = try MPIRuntime.rankAndSize(of: world)
        guard worldSize == grid.worldSize else {
            throw .worldSizeMismatch(worldSize: worldSize, tp: grid.worldSize)
        }
        self.grid = grid
        rank = worldRank
        let info = grid.info(of: rank)
        var tpComm = tessera_mpi_comm_null()
        var cpComm = tessera_mpi_comm_null()
        var controlComm = tessera_mpi_comm_null()
        try MPIRuntime.check(MPI_Comm_dup(world, &tpComm), "MPI_Comm_dup")
        // Colour = grid row, key = position in it: CP rank c of group g is world rank g * cp + c.
        try MPIRuntime.check(MPI_Comm_split(world, Int32(info.cpGroup), Int32(info.cpRank), &cpComm), "MPI_Comm_split")
        try MPIRuntime.check(MPI_Comm_dup(world, &controlComm), "MPI_Comm_dup")
        // The processes that share this node's memory, hence its cores.
        var nodeComm = tessera_mpi_comm_null()
        try MPIRuntime.check(
            MPI_Comm_split_type(world, tessera_mpi_comm_type_shared(), Int32(rank), tessera_mpi_info_null(), &nodeComm),
            "MPI_Comm_split_type")
        ranksOnThisMachine = try MPIRuntime.rankAndSize(of: nodeComm).size
        MPI_Comm_free(&nodeComm)
        tp = try MPICommunicator(comm: tpComm, worldRank: rank)
        cp = try MPICommunicator(comm: cpComm, worldRank: rank)
        channel = MPIStepChannel(comm: controlComm, worldRank: rank)
        precondition(tp.rank == rank && cp.rank == info.cpRank && cp.size == grid.config.cp, "MPI groups disagree with the rank grid")
    }

    public var hostedRanks: [Int] { [rank] }

    public func communicators(rank: Int) -> RankCommunicators<MPICommunicator> {
        precondition(rank == self.rank, "process of rank \(self.rank) asked for rank \(rank)")
        return RankCommunicators(rank: rank, tp: tp, cp: cp)
    }

    public func abort(rank: Int, error: any Error) {
        MPIRuntime.fail(rank: rank, error)
    }

    /// Always nil: a failure ends the job (see ``abort(rank:error:)``).
    public var failure: (rank: Int, error: any Error)? { nil }

    public var stepChannel: (any StepChannel)? { channel }
}
#endif
