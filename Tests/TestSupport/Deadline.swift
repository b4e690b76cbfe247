import Foundation

/// Runs `work` on its own thread and waits at most `seconds` for it, so that a deadlock fails
/// the test (nil: timed out; the stuck threads are leaked) instead of hanging the run.
/// A guard against hangs, not a timing assertion: `seconds` is far above any healthy run.
public func withDeadline<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let result = Result { try work() }
        box.lock.withLock { box.result = result }
        done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    guard done.wait(timeout: .now() + seconds) == .success else { return nil }
    return box.lock.withLock { box.result }
}

/// The result a deadline thread hands back.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    let lock = NSLock()
    var result: Result<T, any Error>?
}
