/// One rank's handle on an ``InProcessGroup``. Each collective copies every float once, from
/// the sender's buffer into the receiver's; only all-reduce goes through a shared buffer
/// (each rank sums `1/size` of the elements into it, then every rank copies the whole sum).
public struct InProcessCommunicator: Communicator {
    package let group: InProcessGroup
    public let rank: Int

    public var size: Int { group.size }
    /// This rank's rank in the world (as opposed to its rank in this group).
    public var worldRank: Int { group.members[rank] }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let n = send.count
        try require(recv.count == size * n, "allGather: recv holds \(recv.count) floats, needs size x send = \(size) x \(n)")
        try group.arrive(rank: rank, call: Call(kind: .allGather, count: n, input: send.baseAddress))
        for source in 0..<size {
            copy(group.calls[source].input, to: recv.baseAddress.map { $0 + source * n }, count: n)
        }
        group.depart()
    }

    public func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let n = recv.count
        try require(send.count == size * n, "reduceScatter: send holds \(send.count) floats, needs size x recv = \(size) x \(n)")
        try group.arrive(rank: rank, call: Call(kind: .reduceScatter, count: send.count, input: send.baseAddress))
        sum(offset: rank * n, count: n, into: recv.baseAddress)
        group.depart()
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let n = buffer.count
        try group.arrive(rank: rank, call: Call(kind: .allReduce, count: n, input: buffer.baseAddress.map { UnsafePointer($0) }))
        // This rank's share of the elements; the split does not affect the order of addition.
        let lower = rank * n / size
        let upper = (rank + 1) * n / size
        sum(offset: lower, count: upper - lower, into: group.scratch + lower)
        // Everyone has read every input and written their share of the sum.
        group.depart()
        // The next write to `scratch` comes after the next `arrive`, which waits for us.
        copy(UnsafePointer(group.scratch), to: buffer.baseAddress, count: n)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        try requireRoot(root, "broadcast")
        let n = buffer.count
        try group.arrive(rank: rank, call: Call(kind: .broadcast, count: n, root: root, input: buffer.baseAddress.map { UnsafePointer($0) }))
        if rank != root { copy(group.calls[root].input, to: buffer.baseAddress, count: n) }
        group.depart()
    }

    public func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        let total = send.count
        try require(
            total % size == 0 && recv.count == total,
            "allToAll: send holds \(total) floats and recv \(recv.count); both must be the same multiple of size=\(size)")
        let n = total / size
        try group.arrive(rank: rank, call: Call(kind: .allToAll, count: total, input: send.baseAddress))
        for source in 0..<size {
            copy(group.calls[source].input.map { $0 + rank * n }, to: recv.baseAddress.map { $0 + source * n }, count: n)
        }
        group.depart()
    }

    public func barrier() throws(CommunicatorError) {
        try group.arrive(rank: rank, call: Call(kind: .barrier))
    }

    public func abort(_ error: any Error) {
        group.abort(rank: worldRank, error: error)
    }

    // MARK: - Helpers

    /// `into[i] = sum over ranks r = 0, 1, ... of input_r[offset + i]`, added in rank order.
    private func sum(offset: Int, count: Int, into out: UnsafeMutablePointer<Float>?) {
        guard count > 0, let out else { return }
        out.update(from: group.calls[0].input! + offset, count: count)
        for source in 1..<size {
            let input = group.calls[source].input! + offset
            for i in 0..<count { out[i] += input[i] }
        }
    }

    private func copy(_ source: UnsafePointer<Float>?, to destination: UnsafeMutablePointer<Float>?, count: Int) {
        guard count > 0, let source, let destination else { return }
        destination.update(from: source, count: count)
    }

    private func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(CommunicatorError) {
        if !condition { try fail(.invalidArgument(rank: worldRank, message: message())) }
    }

    private func requireRoot(_ root: Int, _ operation: String) throws(CommunicatorError) {
        try require(root >= 0 && root < size, "\(operation): root \(root) outside 0..<\(size)")
    }

    /// Aborts the group, so the other ranks do not wait forever for this one, and throws.
    private func fail(_ error: CommunicatorError) throws(CommunicatorError) -> Never {
        group.abort(rank: worldRank, error: error)
        throw error
    }
}
