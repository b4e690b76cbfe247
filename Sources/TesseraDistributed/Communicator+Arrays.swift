/// Array forms of the collectives, for callers that are not kernels (tests, step plans,
/// small tensors). Each allocates its result; hot paths use the buffer forms.
extension Communicator {
    /// Every rank's `values` (all of the same count), concatenated in rank order.
    public func allGather(_ values: [Float]) throws(CommunicatorError) -> [Float] {
        var result = [Float](repeating: 0, count: values.count * size)
        try values.withUnsafeBufferPointer { send throws(CommunicatorError) in
            try result.withUnsafeMutableBufferPointer { recv throws(CommunicatorError) in
                try allGather(send, into: recv)
            }
        }
        return result
    }

    /// This rank's chunk (`values.count / size` floats) of the sum over ranks of `values`.
    public func reduceScatter(_ values: [Float]) throws(CommunicatorError) -> [Float] {
        var result = [Float](repeating: 0, count: values.count / size)
        try values.withUnsafeBufferPointer { send throws(CommunicatorError) in
            try result.withUnsafeMutableBufferPointer { recv throws(CommunicatorError) in
                try reduceScatter(send, into: recv)
            }
        }
        return result
    }

    /// Replaces `values` by their sum over ranks.
    public func allReduce(_ values: inout [Float]) throws(CommunicatorError) {
        try values.withUnsafeMutableBufferPointer { buffer throws(CommunicatorError) in
            try allReduce(buffer)
        }
    }

    /// Replaces `values` by `root`'s (the count must be the same on every rank).
    public func broadcast(_ values: inout [Float], root: Int) throws(CommunicatorError) {
        try values.withUnsafeMutableBufferPointer { buffer throws(CommunicatorError) in
            try broadcast(buffer, root: root)
        }
    }

    /// Chunk j of `values` goes to rank j; the result holds rank i's chunk for us at chunk i.
    public func allToAll(_ values: [Float]) throws(CommunicatorError) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        try values.withUnsafeBufferPointer { send throws(CommunicatorError) in
            try result.withUnsafeMutableBufferPointer { recv throws(CommunicatorError) in
                try allToAll(send, into: recv)
            }
        }
        return result
    }
}
