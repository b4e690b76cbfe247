/// Byte-level BPE over token ids: the vocabulary strings are only used at construction time;
/// merging works on ids, so the merge loop never builds or compares strings.
struct BytePairModel: Sendable {
    struct Merge: Sendable {
        var rank: Int32
        var result: Int32
    }

    /// The token of each single byte, or -1 if the vocabulary lacks it.
    let byteTokens: [Int32]
    /// Merges keyed by `left << 32 | right`.
    let merges: [UInt64: Merge]
    /// Raw bytes -> id of ordinary tokens; only built when `ignoreMerges` is set.
    let wholeWords: [ByteKey: Int32]
    let ignoreMerges: Bool

    /// Words longer than this (in bytes) use the heap-based loop, shorter ones a linear scan.
    static let scanLimit = 48

    /// - Parameters:
    ///   - idForToken: vocabulary keyed by the UTF-8 bytes of the GPT-2-alphabet token string
    ///     (never by `String`, whose `==` is canonical equivalence).
    init(idForToken: [ByteKey: Int32], merges mergeList: [(String, String)], ignoreMerges: Bool) throws {
        var byteTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let key = Array(String(ByteLevel.scalarForByte[byte]).utf8)
            byteTokens[byte] = idForToken[ByteKey(key)] ?? -1
        }
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (left, right)) in mergeList.enumerated() {
            let leftKey = Array(left.utf8), rightKey = Array(right.utf8)
            guard let l = idForToken[ByteKey(leftKey)] else { throw TokenizerError.unknownMergeToken(rank: rank, token: left) }
            guard let r = idForToken[ByteKey(rightKey)] else { throw TokenizerError.unknownMergeToken(rank: rank, token: right) }
            guard let result = idForToken[ByteKey(leftKey + rightKey)] else {
                throw TokenizerError.unknownMergeToken(rank: rank, token: left + right)
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            // A repeated pair keeps its last rank, as in Hugging Face's merge map.
            merges[key] = Merge(rank: Int32(rank), result: result)
        }
        var wholeWords: [ByteKey: Int32] = [:]
        if ignoreMerges {
            for (key, id) in idForToken {
                guard let text = String(validating: key.bytes, as: UTF8.self) else { continue }
                var bytes: [UInt8] = []
                var mapped = true
                for scalar in text.unicodeScalars {
                    guard let b = ByteLevel.byte(for: scalar) else { mapped = false; break }
                    bytes.append(b)
                }
                if mapped { wholeWords[ByteKey(bytes)] = id }
            }
        }
        self.byteTokens = byteTokens
        self.merges = merges
        self.wholeWords = wholeWords
        self.ignoreMerges = ignoreMerges
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge? {
        merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }

    /// Appends the tokens of one pre-tokenized word (raw bytes).
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        if ignoreMerges, let id = wholeWords[ByteKey(word)] {
            out.append(id)
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        for byte in word {
            let id = byteTokens[Int(byte)]
            // A byte without a token is dropped, as Hugging Face does without an unknown token.
            if id >= 0 { symbols.append(id) }
        }
        if symbols.count <= Self.scanLimit {
            mergeByScanning(&symbols)
        } else {
            mergeWithHeap(&symbols)
        }
        out.append(contentsOf: symbols)
    }

    /// Repeatedly applies the best-ranked merge (leftmost on ties) among adjacent pairs: the same
    /// order as Hugging Face's priority queue, whose ties are broken by position.
    func mergeByScanning(_ symbols: inout [Int32]) {
        guard symbols.count > 1 else { return }
        var ranks = [Int32](repeating: .max, count: symbols.count - 1)
        var results = [Int32](repeating: -1, count: symbols.count - 1)
        for k in 0..<ranks.count {
            if let m = merge(symbols[k], symbols[k + 1]) { ranks[k] = m.rank; results[k] = m.result }
        }
        while !ranks.isEmpty {
            var best = 0
            for k in 1..<ranks.count where ranks[k] < ranks[best] { best = k }
            if ranks[best] == .max { break }
            symbols[best] = results[best]
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            results.remove(at: best)
            if best > 0 {
                let m = merge(symbols[best - 1], symbols[best])
                ranks[best - 1] = m?.rank ?? .max
                results[best - 1] = m?.result ?? -1
            }
            if best < ranks.count {
                let m = merge(symbols[best], symbols[best + 1])
                ranks[best] = m?.rank ?? .max
                results[best] = m?.result ?? -1
            }
        }
    }

    /// The same merge order for long words in O(n log n): symbols form a linked list, candidate
    /// pairs wait in a min-heap ordered by (rank, position); entries made stale by an earlier merge
    /// are recognised when popped and skipped.
    func mergeWithHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        guard n > 1 else { return }
        var next = Array(1...n)          // n means none
        var prev = Array(-1..<(n - 1))   // -1 means none
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for k in 0..<(n - 1) {
            if let m = merge(symbols[k], symbols[k + 1]) { heap.push(.init(rank: m.rank, position: Int32(k), result: m.result)) }
        }
        while let top = heap.pop() {
            let p = Int(top.position)
            guard alive[p] else { continue }
            let q = next[p]
            guard q < n, let m = merge(symbols[p], symbols[q]), m.result == top.result else { continue }
            symbols[p] = m.result
            alive[q] = false
            next[p] = next[q]
            if next[q] < n { prev[next[q]] = p }
            if prev[p] >= 0, let left = merge(symbols[prev[p]], symbols[p]) {
                heap.push(.init(rank: left.rank, position: Int32(prev[p]), result: left.result))
            }
            if next[p] < n, let right = merge(symbols[p], symbols[next[p]]) {
                heap.push(.init(rank: right.rank, position: Int32(p), result: right.result))
            }
        }
        var merged: [Int32] = []
        var k = 0
        while k < n {
            merged.append(symbols[k])
            k = next[k]
        }
        symbols = merged
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position).
struct MergeHeap {
    struct Entry {
        var rank: Int32
        var position: Int32
        var result: Int32

        func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var items: [Entry] = []

    mutating func push(_ entry: Entry) {
        items.append(entry)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < items.count && items[left].precedes(items[best]) { best = left }
            if right < items.count && items[right].precedes(items[best]) { best = right }
            if best == parent { break }
            items.swapAt(parent, best)
            parent = best
        }
        return top
    }
}
