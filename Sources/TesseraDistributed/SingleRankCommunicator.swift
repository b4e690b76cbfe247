import Foundation

/// The communicator of a group of one rank: every collective is the identity (a copy when the
/// result goes to a separate buffer, nothing for the in-place all-reduce and broadcast).
///
/// It lets a single-rank forward pass run exactly the code a parallel one runs, at the cost of
/// a few copies, instead of a separate path that the parallel tests would not cover.
/// Argument checks and fail-stop behaviour are those of the protocol: after ``abort(_:)`` every
/// collective throws ``CommunicatorError/aborted(rank:cause:)``.
package struct SingleRankCommunicator: Communicator {
    private let state = AbortState()

    package init() {}

    package var rank: Int { 0 }
    package var size: Int { 1 }

    package func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try check(recv.count == send.count, "allGather: recv holds \(recv.count) floats, needs size x send = 1 x \(send.count)")
        copy(send, into: recv)
    }

    package func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try check(send.count == recv.count, "reduceScatter: send holds \(send.count) floats, needs size x recv = 1 x \(recv.count)")
        copy(send, into: recv)
    }

    package func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try check(true, "")
    }

    package func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        try check(root == 0, "broadcast: root \(root) outside 0..<1")
    }

    package func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try check(send.count == recv.count, "allToAll: send holds \(send.count) floats and recv \(recv.count); both must be the same multiple of size=1")
        copy(send, into: recv)
    }

    package func barrier() throws(CommunicatorError) {
        try check(true, "")
    }

    package func abort(_ error: any Error) {
        state.abort(error)
    }

    /// Throws the abort, if any, then `message` when `condition` fails (aborting: fail-stop).
    private func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(CommunicatorError) {
        if let cause = state.cause { throw .aborted(rank: 0, cause: cause) }
        guard condition else {
            let error = CommunicatorError.invalidArgument(rank: 0, message: message())
            abort(error)
            throw error
        }
    }

    private func copy(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) {
        guard let source = send.baseAddress, let destination = recv.baseAddress, source != UnsafePointer(destination) else { return }
        destination.update(from: source, count: send.count)
    }
}

/// The first abort cause of a ``SingleRankCommunicator`` (shared by its copies).
private final class AbortState: @unchecked Sendable {
    private let lock = NSLock()
    private var first: (any Error)?

    var cause: (any Error)? { lock.withLock { first } }

    func abort(_ error: any Error) {
        lock.withLock { if first == nil { first = error } }
    }
}
