// Checks the MPI communicator against the in-process one, bit for bit: run under
// `mpirun -np N tessera-mpi-check` (Tests/EndToEnd/test_mpi.py does, for N = 2, 3, 4).
//
// Every process runs each collective over MPI, on the TP group and on the CP groups of every
// grid N allows, and runs the same collectives on an in-process world of N threads with the
// same inputs; its own rank's results must be identical. Rank 0 prints how many results agreed.
//
// With `--latency` it instead times one small all-gather (256 floats = 1 KiB per rank) over MPI
// and between threads of one process: the median of 15 rounds of 200 calls each.
#if MPI
import Foundation
import TesseraDistributed
import TesseraMPI

/// Rank `rank`'s input of `count` floats for check `salt`: values whose sums round.
func input(rank: Int, count: Int, salt: Int) -> [Float] {
    (0..<count).map { i in Float(sin(Double(rank * 7919 + i * 104729 + salt * 31))) * Float(1 + (i % 5) * 1000) }
}

/// Every collective on `comms`, each result flattened in order.
func runAll(_ comms: RankCommunicators<some Communicator>, counts: [Int]) throws -> [[Float]] {
    var results: [[Float]] = []
    for (salt, count) in counts.enumerated() {
        for (name, comm) in [("tp", comms.tp as any Communicator), ("cp", comms.cp as any Communicator)] {
            let rank = comm.rank
            let size = comm.size
            let mine = input(rank: comms.rank, count: count, salt: salt + (name == "cp" ? 1000 : 0))
            results.append(try comm.allGather(mine))
            var summed = mine
            try comm.allReduce(&summed)
            results.append(summed)
            results.append(try comm.reduceScatter(input(rank: comms.rank, count: count * size, salt: salt)))
            results.append(try comm.allToAll(input(rank: comms.rank, count: count * size, salt: salt + 7)))
            var root = mine
            try comm.broadcast(&root, root: (salt + 1) % size)
            results.append(root)
            try comm.barrier()
            results.append([Float(rank), Float(size)])
        }
    }
    return results
}

/// Median seconds per call of `body`, over 15 rounds of 200 calls.
func medianSecondsPerCall(_ body: () throws -> Void) rethrows -> Double {
    var rounds: [Double] = []
    for _ in 0..<15 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<200 { try body() }
        rounds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / 200)
    }
    return rounds.sorted()[rounds.count / 2]
}

let (rank, size) = try MPIRuntime.initialize()
if CommandLine.arguments.contains("--latency") {
    let grid = RankGrid(try ParallelConfig(tp: size, numHeads: size, numKVHeads: 1, blockSize: 16))
    let send = [Float](repeating: Float(rank), count: 256)
    var recv = [Float](repeating: 0, count: 256 * size)
    let tp = try MPIWorld(grid: grid).communicators(rank: rank).tp
    let overMPI = try medianSecondsPerCall {
        try send.withUnsafeBufferPointer { s in try recv.withUnsafeMutableBufferPointer { try tp.allGather(s, into: $0) } }
    }
    if rank == 0 {
        let threads = try RankLauncher.run(world: InProcessWorld(grid: grid)) { comms in
            var out = [Float](repeating: 0, count: 256 * size)
            return try medianSecondsPerCall {
                try send.withUnsafeBufferPointer { s in try out.withUnsafeMutableBufferPointer { try comms.tp.allGather(s, into: $0) } }
            }
        }[0]
        print(String(format: "all-gather of 1 KiB per rank, %d ranks: processes (MPI) %.1f us, threads %.1f us (median of 15 x 200 calls)",
                     size, overMPI * 1e6, threads * 1e6))
    }
    MPIRuntime.finalize()
    exit(0)
}
let counts = [1, 7, 1000, 4097]
var agreed = 0
for cp in (1...size).filter({ size % $0 == 0 }) {
    let grid = RankGrid(try ParallelConfig(tp: size, cp: cp, numHeads: size, numKVHeads: 1, blockSize: 16))
    let overMPI = try runAll(try MPIWorld(grid: grid).communicators(rank: rank), counts: counts)
    let inProcess = try RankLauncher.run(world: InProcessWorld(grid: grid)) { try runAll($0, counts: counts) }[rank]
    for (index, (a, b)) in zip(overMPI, inProcess).enumerated() {
        guard a.map(\.bitPattern) == b.map(\.bitPattern) else {
            MPIRuntime.abort("rank \(rank), cp=\(cp): result \(index) differs from the in-process communicator's (\(a.prefix(4)) vs \(b.prefix(4)))")
        }
        agreed += 1
    }
}
if rank == 0 { print("\(size) ranks: \(agreed) results bit-identical to the in-process communicator") }
MPIRuntime.finalize()
#else
print("tessera-mpi-check needs the MPI trait: swift build --traits MPI")
exit(1)
#endif
