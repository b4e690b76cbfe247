/// Finds special and added tokens written verbatim in input text, the way Hugging Face's added
/// vocabulary does: scanning left to right, at the leftmost position where any token starts the
/// longest one wins, and the text between matches is encoded normally.
struct AddedTokenMatcher: Sendable {
    enum Segment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    /// A byte trie: `edges[node]` maps a byte to the child node; `ids[node]` is the token ending there.
    private var edges: [[UInt8: Int32]] = [[:]]
    private var ids: [Int32] = [-1]
    /// Bytes that start at least one token, to skip most positions with one load.
    private var startsToken = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { edges[0].isEmpty }

    init(tokens: [(content: String, id: Int)]) {
        for (content, id) in tokens where !content.isEmpty {
            var node = 0
            for byte in content.utf8 {
                if let child = edges[node][byte] {
                    node = Int(child)
                } else {
                    edges.append([:])
                    ids.append(-1)
                    edges[node][byte] = Int32(edges.count - 1)
                    node = edges.count - 1
                }
            }
            ids[node] = Int32(id)
            startsToken[Int(content.utf8.first!)] = true
        }
    }

    /// Splits `bytes` into plain-text ranges and matched tokens, in order.
    func split(_ bytes: UnsafeBufferPointer<UInt8>) -> [Segment] {
        if isEmpty { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
        var segments: [Segment] = []
        var textStart = 0
        var i = 0
        while i < bytes.count {
            if startsToken[Int(bytes[i])], let (length, id) = longestMatch(bytes, at: i) {
                if textStart < i { segments.append(.text(textStart..<i)) }
                segments.append(.token(id))
                i += length
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < bytes.count { segments.append(.text(textStart..<bytes.count)) }
        return segments
    }

    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (Int, Int32)? {
        var node = 0
        var best: (Int, Int32)?
        var i = start
        while i < bytes.count, let child = edges[node][bytes[i]] {
            node = Int(child)
            i += 1
            if ids[node] >= 0 { best = (i - start, ids[node]) }
        }
        return best
    }
}
