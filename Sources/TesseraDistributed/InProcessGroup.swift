import Foundation

/// A group of ranks that are threads of this process; each thread talks through its own
/// ``InProcessCommunicator`` (``communicator(rank:)``).
///
/// Every collective is two rendezvous on one mutex and condition variable, so waiting ranks
/// sleep instead of spinning (ranks outnumber cores):
///
/// 1. ``arrive(rank:call:)``: each rank publishes what it calls (kind, size, root and a
///    pointer to its input) and waits for all. The last to arrive checks that the calls match.
/// 2. The ranks copy or reduce straight out of each other's published buffers.
/// 3. ``depart()``: each waits until all are done reading, so no rank returns
///    (and reuses its buffers) while another still reads them.
///
/// A generation counter, bumped on each release, tells a waiter that *its* rendezvous is
/// complete, so a fast rank that has already entered the next one cannot be mistaken for a
/// latecomer of this one. Reductions always add rank 0, 1, 2, ... in that order, so results
/// are bit-identical on every rank and independent of thread timing.
///
/// After an abort every arrival throws; departure never does, because by then every rank is
/// known to be copying and will arrive, and leaving early could free a buffer being read.
/// A group is single-use after an abort.
package final class InProcessGroup: @unchecked Sendable {
    package let size: Int
    /// World ranks of the members, `members[localRank]`, used to name ranks in errors.
    package let members: [Int]
    let domain: AbortDomain

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var arrived = 0
    private var generation: UInt64 = 0
    private var round = 0
    private var abortCause: AbortDomain.Cause?

    /// One entry per rank; written by that rank under the lock in `arrive`, read by all
    /// between `arrive` and `depart` (the rendezvous orders these accesses).
    let calls: UnsafeMutablePointer<Call>
    /// Sums of an all-reduce; grown by the last arriver while no one uses it.
    private(set) var scratch: UnsafeMutablePointer<Float>
    private var scratchCapacity = 0

    /// A standalone group whose members are world ranks `0..<size`.
    package convenience init(size: Int) {
        self.init(members: Array(0..<size), domain: AbortDomain())
    }

    init(members: [Int], domain: AbortDomain) {
        precondition(!members.isEmpty, "a group needs at least one rank")
        size = members.count
        self.members = members
        self.domain = domain
        calls = .allocate(capacity: members.count)
        calls.initialize(repeating: Call(kind: .barrier), count: members.count)
        scratch = .allocate(capacity: 0)
        domain.register(self)
    }

    deinit {
        calls.deinitialize(count: size)
        calls.deallocate()
        scratch.deallocate()
    }

    /// The handle rank `rank` (`0..<size`) uses to take part in collectives.
    package func communicator(rank: Int) -> InProcessCommunicator {
        precondition(rank >= 0 && rank < size, "rank \(rank) outside 0..<\(size)")
        return InProcessCommunicator(group: self, rank: rank)
    }

    /// Fails this group and every group built with it (see ``InProcessWorld``): all pending
    /// and later collectives throw ``CommunicatorError/aborted(rank:cause:)`` naming
    /// `rank` (a world rank) and `error`. Only the first abort's cause is kept.
    package func abort(rank: Int, error: any Error) {
        domain.abort(rank: rank, error: error)
    }

    /// The first failure of this group's domain, if any.
    package var failure: (rank: Int, error: any Error)? {
        domain.cause.map { ($0.rank, $0.error) }
    }

    func markAborted(_ cause: AbortDomain.Cause) {
        condition.lock()
        if abortCause == nil { abortCause = cause }
        condition.broadcast()
        condition.unlock()
    }

    /// First rendezvous of a collective: publishes `call` and returns when every rank has
    /// arrived with a matching call.
    func arrive(rank: Int, call: Call) throws(CommunicatorError) {
        condition.lock()
        if let cause = abortCause {
            condition.unlock()
            throw .aborted(rank: cause.rank, cause: cause.error)
        }
        calls[rank] = call
        let myGeneration = generation
        arrived += 1
        if arrived == size {
            if let mismatch = checkCalls() {
                condition.unlock()
                domain.abort(rank: members[rank], error: mismatch)
                throw mismatch
            }
            if call.kind == .allReduce && call.count > scratchCapacity {
                scratch.deallocate()
                scratch = .allocate(capacity: call.count)
                scratchCapacity = call.count
            }
            release()
            condition.unlock()
            return
        }
        while generation == myGeneration && abortCause == nil {
            condition.wait()
        }
        if generation == myGeneration, let cause = abortCause {
            condition.unlock()
            throw .aborted(rank: cause.rank, cause: cause.error)
        }
        condition.unlock()
    }

    /// Second rendezvous: returns when every rank has finished reading the others' buffers.
    func depart() {
        condition.lock()
        let myGeneration = generation
        arrived += 1
        if arrived == size {
            release()
        } else {
            while generation == myGeneration { condition.wait() }
        }
        condition.unlock()
    }

    /// Under the lock, by the last arriver.
    private func release() {
        arrived = 0
        generation &+= 1
        condition.broadcast()
    }

    /// Under the lock, by the last arriver: nil if all ranks made the same call.
    private func checkCalls() -> CommunicatorError? {
        round += 1
        let first = calls[0]
        for r in 1..<size where !calls[r].matches(first) {
            return .mismatch(round: round, calls: (0..<size).map { calls[$0].description })
        }
        return nil
    }
}

/// What one rank called in the current round.
struct Call: CustomStringConvertible {
    enum Kind: String {
        case allGather, reduceScatter, allReduce, broadcast, allToAll, barrier
    }

    var kind: Kind
    /// Floats the rank sends (its whole buffer for all-reduce and broadcast).
    var count = 0
    var root = 0
    /// Start of the rank's input; valid until the round's `depart`.
    var input: UnsafePointer<Float>? = nil

    func matches(_ other: Call) -> Bool {
        kind == other.kind && count == other.count && root == other.root
    }

    var description: String {
        switch kind {
        case .barrier: "barrier()"
        case .broadcast: "broadcast(\(count) floats, root: \(root))"
        default: "\(kind.rawValue)(\(count) floats)"
        }
    }
}
