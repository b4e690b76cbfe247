import Foundation
import Synchronization
import TesseraDistributed
import TesseraEngine
import TesseraModels
#if MPI
import TesseraMPI
#endif

/// Whether this process runs every rank (thread ranks, the default) or one rank of an
/// `mpirun` job, and what follows from it: which world a runner gets, who prints, how a run ends.
///
/// Under `mpirun` every process parses the same command line and runs the same command. Rank 0
/// does everything a user sees; the others start their runner, serve the steps rank 0 sends
/// until it stops them (``isWorker``), write nothing to standard output, and exit 0.
enum ProcessRanks {
    /// This process's rank in the `mpirun` job; nil without one. Set by ``startIfLaunched()``
    /// before any command runs, never changed after.
    nonisolated(unsafe) private(set) static var mpiRank: Int?
    private static let runners = Mutex<[ModelRunner]>([])

    /// A rank other than 0 of an `mpirun` job.
    static var isWorker: Bool { (mpiRank ?? 0) != 0 }

    /// Starts MPI when `mpirun` launched this process.
    static func startIfLaunched() throws {
        #if MPI
        guard MPIRuntime.launchedByMPIRun else { return }
        let (rank, _) = try MPIRuntime.initialize()
        mpiRank = rank
        if rank != 0 {
            // Only rank 0 prints; the others keep standard error for their failures.
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO) }
            // The job's SIGINT/SIGTERM is for rank 0, which drains and then stops every rank.
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
        }
        #else
        let size = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init) ?? 1
        if size > 1 {
            throw ProcessRanksError.builtWithoutMPI(processes: size)
        }
        #endif
    }

    /// Starts the runner of this process's ranks: all of them, or under `mpirun` its own one
    /// (rank 0 then relays every step to the other processes).
    static func start(
        _ model: OpenedModel, parallel: LLM.Parallel, cache: CacheSettings,
        demand: (_ maxModelLen: Int) throws -> CacheDemand, tasks: [RankTask] = []
    ) throws -> RunnerSetup {
        var processRanks: RunnerSetup?
        #if MPI
        if mpiRank != nil {
            processRanks = try RunnerSetup.start(
                model, parallel: parallel, cache: cache, demand: demand, tasks: tasks, world: { try MPIWorld(grid: $0) })
        }
        #endif
        let setup = try processRanks ?? RunnerSetup.start(model, parallel: parallel, cache: cache, demand: demand, tasks: tasks)
        runners.withLock { $0.append(setup.runner) }
        return setup
    }

    /// After the command: stops every runner still running (rank 0 thereby stops the other
    /// processes) and ends MPI.
    static func finish() {
        for runner in runners.withLock({ $0 }) { runner.shutdown() }
        #if MPI
        if mpiRank != nil { MPIRuntime.finalize() }
        #endif
    }

    /// A worker's whole part in a command with one runner: serve rank 0's steps, then exit 0.
    static func serveUntilStopped(_ setup: RunnerSetup) throws -> Never {
        try setup.runner.waitUntilStopped()
        finish()
        exit(0)
    }

    /// Under `mpirun`, ends the whole job with `message` (a rank that fails cannot be left
    /// behind: the others would wait for it); otherwise returns.
    static func abortJobIfLaunched(_ message: String, code: Int32) {
        #if MPI
        guard let rank = mpiRank else { return }
        // Most failures are every rank's (a bad flag, a missing file): let rank 0 say it first.
        if rank != 0 { usleep(500_000) }
        MPIRuntime.abort(rank == 0 ? message : "tessera: rank \(rank): \(message)", code: code == 0 ? 1 : code)
        #endif
    }
}

enum ProcessRanksError: Error, CustomStringConvertible {
    case builtWithoutMPI(processes: Int)

    var description: String {
        switch self {
        case let .builtWithoutMPI(processes):
            "mpirun started \(processes) processes, but this tessera was built without MPI: build it with `swift build --traits MPI` (or `make build`)"
        }
    }
}
