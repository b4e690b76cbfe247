import Foundation
import TesseraDistributed

/// Counts one rank's collectives and, once armed, picks the one that fails.
public final class CollectiveFuse: @unchecked Sendable {
    private let lock = NSLock()
    private var calls = 0
    private var failAt: Int?

    /// - Parameter failAt: the collective (counted from 1) that fails; nil: none until ``arm(failingCollective:)``.
    public init(failAt: Int? = nil) { self.failAt = failAt }

    /// Collectives made so far.
    public var count: Int { lock.withLock { calls } }

    /// The `n`-th collective from now fails.
    public func arm(failingCollective n: Int) { lock.withLock { failAt = calls + n } }

    /// Counts a collective; its number when this is the one to fail.
    func tick() -> Int? { lock.withLock { calls += 1; return calls == failAt ? calls : nil } }
}

/// Passes collectives through to `base`, but throws instead of making the one `fuse` picks:
/// a rank failing in the middle of a forward pass, for tests of how the others are woken.
public struct FailingCommunicator: Communicator {
    public let base: any Communicator
    /// The rank the error names (a world rank, where `base` is a sub-group's).
    public let reportedRank: Int
    public let fuse: CollectiveFuse

    public init(base: any Communicator, reportedRank: Int? = nil, fuse: CollectiveFuse) {
        self.base = base
        self.reportedRank = reportedRank ?? base.rank
        self.fuse = fuse
    }

    /// Fails the `failAt`-th collective.
    public init(base: any Communicator, failAt: Int) {
        self.init(base: base, fuse: CollectiveFuse(failAt: failAt))
    }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    /// Throws `rank R: injected failure in NAME, collective N` for the chosen collective.
    private func tick(_ name: String) throws(CommunicatorError) {
        guard let call = fuse.tick() else { return }
        throw .invalidArgument(rank: reportedRank, message: "injected failure in \(name), collective \(call)")
    }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try tick("allGather")
        try base.allGather(send, into: recv)
    }

    public func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try tick("reduceScatter")
        try base.reduceScatter(send, into: recv)
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try tick("allReduce")
        try base.allReduce(buffer)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        try tick("broadcast")
        try base.broadcast(buffer, root: root)
    }

    public func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try tick("allToAll")
        try base.allToAll(send, into: recv)
    }

    public func barrier() throws(CommunicatorError) {
        try tick("barrier")
        try base.barrier()
    }

    public func abort(_ error: any Error) { base.abort(error) }
}
