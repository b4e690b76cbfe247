import Synchronization

/// Request ids unique within one server: `cmpl-1`, `chatcmpl-2`, ...
final class RequestIDs: Sendable {
    private let counter = Mutex(0)

    func next(_ prefix: String) -> String {
        let value = counter.withLock { counter in
            counter += 1
            return counter
        }
        return "\(prefix)-\(value)"
    }
}
