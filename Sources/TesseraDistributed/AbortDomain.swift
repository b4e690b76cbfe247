import Foundation

/// The set of in-process groups that fail together, and the first failure among them.
///
/// A rank blocked in one group (say its CP group) must wake when a rank fails in another
/// (the TP group), or the launcher could never join it. So groups built together share one
/// domain: aborting any of them aborts all. Only the first cause is kept; the errors other
/// ranks throw because of it are consequences, not causes.
final class AbortDomain: @unchecked Sendable {
    struct Cause: Sendable {
        let rank: Int
        let error: any Error
    }

    private struct WeakGroup {
        weak var group: InProcessGroup?
    }

    private let lock = NSLock()
    private var firstCause: Cause?
    /// Weak: groups own their domain, not the other way round.
    private var groups: [WeakGroup] = []

    var cause: Cause? {
        lock.withLock { firstCause }
    }

    func register(_ group: InProcessGroup) {
        lock.withLock { groups.append(WeakGroup(group: group)) }
    }

    /// Records `error` of `rank` as the cause unless there is one already, then wakes every
    /// waiter of every group.
    func abort(rank: Int, error: any Error) {
        let (cause, members) = lock.withLock { () -> (Cause, [InProcessGroup]) in
            if firstCause == nil { firstCause = Cause(rank: rank, error: error) }
            return (firstCause!, groups.compactMap(\.group))
        }
        for group in members { group.markAborted(cause) }
    }
}
