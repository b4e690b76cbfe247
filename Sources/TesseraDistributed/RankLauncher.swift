import Foundation

/// Runs one thread per rank and collects what each returns.
///
/// If a rank throws, the launcher aborts the group (or world), which wakes every rank
/// blocked in a collective with ``CommunicatorError/aborted(rank:cause:)``; once all threads
/// have ended it rethrows the first error thrown, not those consequences. No thread is
/// left running when it returns or throws, provided each rank's own code ends once its
/// collectives fail.
package enum RankLauncher {
    /// Stack of each rank thread. Model code on a rank thread may keep large values on the
    /// stack; secondary threads default to less than the main thread on some platforms.
    package static let defaultStackSize = 16 << 20

    /// Runs `body` on `size` threads sharing a new ``InProcessGroup``; results in rank order.
    package static func run<T: Sendable>(
        size: Int, stackSize: Int = defaultStackSize,
        _ body: @escaping @Sendable (InProcessCommunicator) throws -> T
    ) throws -> [T] {
        try run(group: InProcessGroup(size: size), stackSize: stackSize, body)
    }

    /// Runs `body` for each rank of an existing `group` (for tests that abort it from outside).
    package static func run<T: Sendable>(
        group: InProcessGroup, stackSize: Int = defaultStackSize,
        _ body: @escaping @Sendable (InProcessCommunicator) throws -> T
    ) throws -> [T] {
        try run(ranks: group.members, domain: group.domain, stackSize: stackSize) { index in
            try body(group.communicator(rank: index))
        }
    }

    /// Runs `body` on one thread per rank `world` hosts, each with its TP and CP communicators;
    /// results in the order of `world.hostedRanks`.
    package static func run<World: RankWorld, T: Sendable>(
        world: World, stackSize: Int = defaultStackSize,
        _ body: @escaping @Sendable (RankCommunicators<World.Comm>) throws -> T
    ) throws -> [T] {
        let ranks = world.hostedRanks
        return try run(
            ranks: ranks, abort: { world.abort(rank: $0, error: $1) }, failure: { world.failure?.error },
            stackSize: stackSize
        ) { index in
            try body(world.communicators(rank: ranks[index]))
        }
    }

    /// `ranks[i]` is the world rank that thread i reports in an abort.
    private static func run<T: Sendable>(
        ranks: [Int], domain: AbortDomain, stackSize: Int, _ body: @escaping @Sendable (Int) throws -> T
    ) throws -> [T] {
        try run(
            ranks: ranks, abort: { domain.abort(rank: $0, error: $1) }, failure: { domain.cause?.error },
            stackSize: stackSize, body)
    }

    private static func run<T: Sendable>(
        ranks: [Int], abort: @escaping @Sendable (Int, any Error) -> Void, failure: () -> (any Error)?,
        stackSize: Int, _ body: @escaping @Sendable (Int) throws -> T
    ) throws -> [T] {
        let results = ResultSlots<T>(count: ranks.count)
        let finished = DispatchSemaphore(value: 0)
        for index in ranks.indices {
            let thread = Thread {
                do {
                    results.set(index, try body(index))
                } catch {
                    // A no-op when this is a consequence of an earlier failure.
                    abort(ranks[index], error)
                }
                finished.signal()
            }
            thread.stackSize = stackSize
            thread.name = "tessera-rank-\(ranks[index])"
            thread.start()
        }
        for _ in ranks { finished.wait() }
        if let cause = failure() { throw cause }
        return results.values()
    }
}

/// Per-rank results, filled by the rank threads.
private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: T) {
        lock.withLock { slots[index] = value }
    }

    /// Every slot; only called once all threads have set theirs.
    func values() -> [T] {
        lock.withLock { slots.map { $0! } }
    }
}
