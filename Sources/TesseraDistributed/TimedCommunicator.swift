import Foundation

/// Wall-clock seconds one rank spends inside collectives, waiting for the others included.
/// Read by benchmarks to tell communication from computation.
public final class CommunicationClock: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds = 0.0
    private var calls = 0

    public init() {}

    func add(_ elapsed: Double) {
        lock.withLock {
            seconds += elapsed
            calls += 1
        }
    }

    /// Seconds and collective calls since the last reset.
    public var totals: (seconds: Double, calls: Int) { lock.withLock { (seconds, calls) } }

    public func reset() { lock.withLock { seconds = 0; calls = 0 } }
}

/// Forwards every collective to `base` and adds its duration to `clock`.
public struct TimedCommunicator: Communicator {
    public let base: any Communicator
    public let clock: CommunicationClock

    public init(_ base: any Communicator, clock: CommunicationClock) {
        self.base = base
        self.clock = clock
    }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    private func timed<T>(_ body: () throws(CommunicatorError) -> T) throws(CommunicatorError) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { clock.add(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9) }
        return try body()
    }

    public func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.allGather(send, into: recv) }
    }

    public func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.reduceScatter(send, into: recv) }
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.allReduce(buffer) }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.broadcast(buffer, root: root) }
    }

    public func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.allToAll(send, into: recv) }
    }

    public func barrier() throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.barrier() }
    }

    public func abort(_ error: any Error) { base.abort(error) }
}
