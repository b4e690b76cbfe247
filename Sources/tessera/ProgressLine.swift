import Foundation

/// One status line on standard error, rewritten in place on a terminal and throttled to a few
/// updates a second elsewhere, so loading shows progress without flooding logs.
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPrint = Date.distantPast
    private let lock = NSLock()

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ message: String) {
        guard enabled else { return }
        lock.withLock {
            let now = Date()
            guard now.timeIntervalSince(lastPrint) > (isTerminal ? 0.05 : 1) else { return }
            lastPrint = now
            write(isTerminal ? "\r\u{1B}[K\(message)" : "\(message)\n")
        }
    }

    func finish(_ message: String) {
        guard enabled else { return }
        write(isTerminal ? "\r\u{1B}[K\(message)\n" : "\(message)\n")
    }

    /// Erases the line (on a terminal) for output that follows by other means.
    func clear() {
        guard enabled, isTerminal else { return }
        write("\r\u{1B}[K")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
