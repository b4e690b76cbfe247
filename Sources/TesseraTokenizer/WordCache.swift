import Foundation

/// Tokens of recently seen words, shared by all callers of one tokenizer.
///
/// Natural text repeats a small set of words, so most words skip the merge loop entirely.
/// Guarded by a lock (the tokenizer is `Sendable` and may be used from several threads); when
/// full it is simply emptied, which keeps the bookkeeping out of the hot path.
final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [ByteKey: [Int32]] = [:]
    private let capacity: Int

    /// Words longer than this many bytes are not worth caching.
    static let maxWordLength = 64

    init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    func lookup(_ word: ByteKey) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[word]
    }

    func store(_ word: ByteKey, _ ids: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[word] = ids
    }
}
