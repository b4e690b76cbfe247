#if MPI
import CMPI
import TesseraDistributed

/// One process's handle on an MPI communicator, with the ``Communicator`` contract of the
/// in-process one: the same collectives, bit-identical sums on every rank, fail-stop.
///
/// Sums are not left to MPI's reductions, whose order of addition is the library's choice:
/// every rank gathers the inputs and adds them in rank order, as the in-process communicator
/// does, so process ranks and thread ranks compute the same bits.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// This process's rank in the world, for messages.
    public let worldRank: Int
    /// Owned: freed with the process (MPI_Finalize).
    private let comm: MPI_Comm?
    /// Gathered inputs of the sums; used by one thread at a time (collectives on one
    /// communicator never overlap).
    private var scratch = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)

    init(comm: MPI_Comm?, worldRank: Int) throws(MPIError) {
        self.comm = comm
        self.worldRank = worldRank
        MPI_Comm_set_errhandler(comm, tessera_mpi_errors_return())
        (rank, size) = try MPIRuntime.rankAndSize(of: comm)
    }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let n = send.count
        require(recv.count == size * n, "allGather: recv holds \(recv.count) floats, needs size x send = \(size) x \(n)")
        run("MPI_Allgather") {
            MPI_Allgather(send.baseAddress, Int32(n), tessera_mpi_float(), recv.baseAddress, Int32(n), tessera_mpi_float(), comm)
        }
    }

    public func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let n = recv.count
        require(send.count == size * n, "reduceScatter: send holds \(send.count) floats, needs size x recv = \(size) x \(n)")
        // Chunk `rank` of every rank's input, in rank order, then summed here.
        let gathered = gatheredScratch(count: size * n)
        run("MPI_Alltoall") {
            MPI_Alltoall(send.baseAddress, Int32(n), tessera_mpi_float(), gathered, Int32(n), tessera_mpi_float(), comm)
        }
        sumInRankOrder(gathered, count: n, into: recv.baseAddress)
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let n = buffer.count
        let gathered = gatheredScratch(count: size * n)
        run("MPI_Allgather") {
            MPI_Allgather(buffer.baseAddress, Int32(n), tessera_mpi_float(), gathered, Int32(n), tessera_mpi_float(), comm)
        }
        sumInRankOrder(gathered, count: n, into: buffer.baseAddress)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        require(root >= 0 && root < size, "broadcast: root \(root) outside 0..<\(size)")
        run("MPI_Bcast") { MPI_Bcast(buffer.baseAddress, Int32(buffer.count), tessera_mpi_float(), Int32(root), comm) }
    }

    public func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let total = send.count
        require(
            total % size == 0 && recv.count == total,
            "allToAll: send holds \(total) floats and recv \(recv.count); both must be the same multiple of size=\(size)")
        let n = Int32(total / size)
        run("MPI_Alltoall") {
            MPI_Alltoall(send.baseAddress, n, tessera_mpi_float(), recv.baseAddress, n, tessera_mpi_float(), comm)
        }
    }

    public func barrier() throws(CommunicatorError) {
        run("MPI_Barrier") { MPI_Barrier(comm) }
    }

    /// Ends the whole job: an MPI job cannot go on without one of its ranks.
    public func abort(_ error: any Error) {
        MPIRuntime.fail(rank: worldRank, error)
    }

    private func gatheredScratch(count: Int) -> UnsafeMutablePointer<Float> {
        if scratch.count < count {
            scratch.deallocate()
            scratch = .allocate(capacity: count)
        }
        return scratch.baseAddress!
    }

    deinit { scratch.deallocate() }

    /// `out[i] = ((in_0[i] + in_1[i]) + in_2[i]) + ...` over the `size` consecutive chunks of `gathered`.
    private func sumInRankOrder(_ gathered: UnsafeMutablePointer<Float>, count n: Int, into out: UnsafeMutablePointer<Float>?) {
        guard n > 0, let out else { return }
        out.update(from: gathered, count: n)
        for source in 1..<size {
            let input = gathered + source * n
            for i in 0..<n { out[i] += input[i] }
        }
    }

    /// A failed call or a wrong argument ends the job (fail-stop), so the collectives never throw.
    private func run(_ call: String, _ body: () -> Int32) {
        MPIRuntime.failUnlessSuccess(body(), call, rank: worldRank)
    }

    private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard !condition else { return }
        MPIRuntime.fail(rank: worldRank, CommunicatorError.invalidArgument(rank: worldRank, message: message()))
    }
}
#endif
