#if MPI
import CMPI
import Foundation
import TesseraDistributed

/// Rank 0's steps to the other processes: a broadcast of the message's length, then of its
/// bytes, on a communicator of its own (so it never meets a collective of the model).
///
/// The receivers wait in a non-blocking broadcast they poll with sleeps that grow while
/// nothing comes: a blocked MPI call spins a whole core, and an idle server must not.
final class MPIStepChannel: StepChannel, @unchecked Sendable {
    private let comm: MPI_Comm?
    private let worldRank: Int
    /// Polls without sleeping for this long after the last message: steps follow each other
    /// closely while the engine is busy.
    private let spinSeconds = 0.000_2
    private let longestSleepMicroseconds: UInt32 = 2_000

    init(comm: MPI_Comm?, worldRank: Int) {
        self.comm = comm
        self.worldRank = worldRank
        MPI_Comm_set_errhandler(comm, tessera_mpi_errors_return())
    }

    func send(_ message: [UInt8]) throws(CommunicatorError) {
        var length = Int64(message.count)
        broadcast(&length, count: 1, type: tessera_mpi_int64(), sleeping: false)
        var bytes = message
        bytes.withUnsafeMutableBytes { raw in
            broadcast(raw.baseAddress, count: raw.count, type: tessera_mpi_byte(), sleeping: false)
        }
    }

    func receive() throws(CommunicatorError) -> [UInt8] {
        var length: Int64 = 0
        broadcast(&length, count: 1, type: tessera_mpi_int64(), sleeping: true)
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBytes { raw in
            broadcast(raw.baseAddress, count: raw.count, type: tessera_mpi_byte(), sleeping: false)
        }
        return bytes
    }

    private func broadcast(
        _ buffer: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?, sleeping: Bool
    ) {
        var request = tessera_mpi_request_null()
        check(MPI_Ibcast(buffer, Int32(count), type, 0, comm, &request), "MPI_Ibcast")
        if sleeping {
            waitSleeping(&request)
        } else {
            check(MPI_Wait(&request, tessera_mpi_status_ignore()), "MPI_Wait")
        }
    }

    /// Tests `request` until it completes: spinning briefly, then sleeping 50 µs doubling up
    /// to 2 ms between tests (about 0.1% of a core while idle).
    private func waitSleeping(_ request: inout MPI_Request?) {
        let start = Date()
        var sleep: UInt32 = 50
        while true {
            var done: Int32 = 0
            check(MPI_Test(&request, &done, tessera_mpi_status_ignore()), "MPI_Test")
            if done != 0 { return }
            if Date().timeIntervalSince(start) > spinSeconds {
                usleep(sleep)
                sleep = min(sleep * 2, longestSleepMicroseconds)
            }
        }
    }

    /// Ends the job on a failed call: the other processes cannot carry on without this one's steps.
    private func check(_ code: Int32, _ call: String) {
        MPIRuntime.failUnlessSuccess(code, call, rank: worldRank)
    }
}
#endif
