#if MPI
import CMPI
import Foundation

/// The MPI library of this process: started once, before any communicator, and ended once.
///
/// Fail-stop: a rank that fails prints why and calls `MPI_Abort`, which ends every process of
/// the job (Open MPI cannot carry on without a rank). `MPI_Finalize` is only called after rank 0
/// has told every rank to stop, since a rank that finalises while the others wait in a
/// collective hangs them.
public enum MPIRuntime {
    /// True when this process was started by `mpirun` (Open MPI sets these in every rank).
    public static var launchedByMPIRun: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Starts MPI with `MPI_THREAD_MULTIPLE` (rank threads and the step channel run collectives
    /// from different threads, on different communicators); returns this process's world rank
    /// and the world size.
    public static func initialize() throws(MPIError) -> (rank: Int, size: Int) {
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, tessera_mpi_thread_multiple(), &provided), "MPI_Init_thread")
        guard provided >= tessera_mpi_thread_multiple() else {
            throw .unsupported("this Open MPI does not provide MPI_THREAD_MULTIPLE (got level \(provided))")
        }
        // Errors come back as return codes, so that they are reported with the rank that saw them.
        MPI_Comm_set_errhandler(tessera_mpi_comm_world(), tessera_mpi_errors_return())
        return try rankAndSize(of: tessera_mpi_comm_world())
    }

    /// This process's rank in `comm` and the number of processes in it.
    static func rankAndSize(of comm: MPI_Comm?) throws(MPIError) -> (rank: Int, size: Int) {
        var rank: Int32 = 0
        var size: Int32 = 0
        try check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(comm, &size), "MPI_Comm_size")
        return (Int(rank), Int(size))
    }

    /// Ends MPI in this process; call once every rank has stopped.
    public static func finalize() {
        MPI_Finalize()
    }

    /// Prints `message` on standard error and ends the whole job with `code` (never returns).
    public static func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        MPI_Abort(tessera_mpi_comm_world(), code)
        exit(code)
    }

    /// Ends the job because world rank `rank` failed with `error`: the other ranks cannot go on
    /// without it.
    static func fail(rank: Int, _ error: any Error) -> Never {
        abort("tessera: rank \(rank) failed: \(error)")
    }

    /// Ends the job, naming `call` and the error, when an MPI call on world rank `rank` failed.
    static func failUnlessSuccess(_ code: Int32, _ call: @autoclosure () -> String, rank: Int) {
        do { try check(code, call()) } catch { fail(rank: rank, error) }
    }

    static func check(_ code: Int32, _ call: @autoclosure () -> String) throws(MPIError) {
        guard code != tessera_mpi_success() else { return }
        throw .call(call(), code: code, message: errorString(code))
    }

    private static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why MPI could not start or a call failed.
public enum MPIError: Error, CustomStringConvertible {
    case call(String, code: Int32, message: String)
    case unsupported(String)
    /// `mpirun -np` and `--tp` disagree.
    case worldSizeMismatch(worldSize: Int, tp: Int)

    public var description: String {
        switch self {
        case let .call(call, code, message): "\(call) failed (\(code)): \(message)"
        case let .unsupported(message): message
        case let .worldSizeMismatch(worldSize, tp):
            "mpirun started \(worldSize) processes but the parallel configuration has tp=\(tp) ranks: "
                + "run one process per rank (mpirun -np \(tp)) or pass --tp \(worldSize)"
        }
    }
}
#endif
