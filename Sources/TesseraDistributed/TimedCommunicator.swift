import Foundation

/// Wall-clock seconds one rank spends inside collectives, waiting for the others included.
/// Read by benchmarks to tell communication from computation.
package final class CommunicationClock: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds = 0.0
    private var calls = 0

    package init() {}

    func add(_ elapsed: Double) {
        lock.withLock {
            seconds += elapsed
            calls += 1
        }
    }

    /// Seconds and collective calls since the last reset.
    package var totals: (seconds: Double, calls: Int) { lock.withLock { (seconds, calls) } }

    package func reset() { lock.withLock { seconds = 0; calls = 0 } }
}

/// Forwards every collective to `base` and adds its duration to `clock`.
package struct TimedCommunicator: Communicator {
    package let base: any Communicator
    package let clock: CommunicationClock

    package init(_ base: any Communicator, clock: CommunicationClock) {
        self.base = base
        self.clock = clock
    }

    package var rank: Int { base.rank }
    package var size: Int { base.size }

    private func timed<T>(_ body: () throws(CommunicatorError) -> T) throws(CommunicatorError) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { clock.add(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9) }
        return try body()
    }

    package func allGather(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.allGather(send, into: recv) }
    }

    package func reduceScatter(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.reduceScatter(send, into: recv) }
    }

    package func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.allReduce(buffer) }
    }

    package func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.broadcast(buffer, root: root) }
    }

    package func allToAll(_ send: UnsafeBufferPointer<Float>, into recv: UnsafeMutableBufferPointer<Float>) throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.allToAll(send, into: recv) }
    }

    package func barrier() throws(CommunicatorError) {
        try timed { () throws(CommunicatorError) in try base.barrier() }
    }

    package func abort(_ error: any Error) { base.abort(error) }
}
