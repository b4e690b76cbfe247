/// Collective communication among the ranks of one group: what tensor-parallel layers and
/// context-parallel attention need, shaped so that an MPI communicator can conform too.
///
/// Every rank of the group must call the same collectives in the same order with the same
/// sizes (and roots). Collectives block until the whole group has taken part.
///
/// Buffers are unsafe buffer pointers into the caller's own storage, so that kernels can
/// hand over activations in place and an implementation copies each float once (straight
/// from the sender's buffer into the receiver's in process; what MPI would do over shared
/// memory). Send and receive buffers of one call must not overlap. Array conveniences are
/// in `Communicator+Arrays.swift`.
///
/// Failure is fail-stop: after ``abort(_:)`` on any rank, or any collective error, every
/// pending and later collective of the group throws ``CommunicatorError/aborted(rank:cause:)``.
public protocol Communicator: Sendable {
    /// This rank's index in the group, `0..<size`.
    var rank: Int { get }
    var size: Int { get }

    /// Concatenation of every rank's `send`, in rank order: `recv.count == size * send.count`.
    func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError)

    /// Sum over ranks of `send`, split into `size` equal chunks; rank r receives chunk r:
    /// `send.count == size * recv.count`.
    func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError)

    /// Replaces `buffer` by its sum over ranks; every rank gets bit-identical values.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError)

    /// Copies `root`'s `buffer` into every other rank's `buffer` (same count everywhere).
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError)

    /// `send` holds `size` equal chunks; chunk j goes to rank j, which stores what rank i sent
    /// it at chunk i of `recv`: `send.count == recv.count`, a multiple of `size`.
    func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError)

    /// Returns once every rank has called it.
    func barrier() throws(CommunicatorError)

    /// Marks the whole group failed because of `error` on this rank: every rank's pending and
    /// later collectives throw ``CommunicatorError/aborted(rank:cause:)`` naming this rank and `error`.
    func abort(_ error: any Error)
}
