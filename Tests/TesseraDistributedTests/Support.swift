import Foundation
@testable import TesseraDistributed

/// Runs `work` on its own thread and waits at most `seconds` for it, so that a deadlock in a
/// collective fails the test (nil: timed out; the stuck threads are leaked) instead of
/// hanging the whole test run.
func withDeadline<T: Sendable>(seconds: Double = 20, _ work: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
    let box = Locked<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let result = Result { try work() }
        box.withLock { $0 = result }
        done.signal()
    }
    thread.stackSize = 1 << 20
    thread.start()
    guard done.wait(timeout: .now() + seconds) == .success else { return nil }
    return box.withLock { $0 }
}

/// A value shared between rank threads in tests.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Deterministic floats that are not exactly representable sums, so that a different order
/// of addition would change the last bits.
func payload(rank: Int, round: Int, count: Int) -> [Float] {
    (0..<count).map { i in
        Float((rank * 7919 + round * 104_729 + i * 31) % 1999) / 7 - 142.3
    }
}

/// Element-wise sum of `parts` added in index order (rank 0, 1, 2, ...).
func sequentialSum(_ parts: [[Float]]) -> [Float] {
    var total = parts[0]
    for part in parts.dropFirst() {
        for i in total.indices { total[i] += part[i] }
    }
    return total
}

func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// An error a rank throws on purpose.
struct RankFailure: Error, Equatable, CustomStringConvertible {
    let rank: Int
    let round: Int
    var description: String { "rank \(rank) failed on purpose in round \(round)" }
}
