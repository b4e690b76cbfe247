/// Finds stop strings in streamed text and holds back what might be the start of one, so a
/// streaming client never sees text that a later token turns into a stop.
///
/// Works on UTF-8 bytes (byte equality, not Swift's canonical equivalence). Pieces must be
/// whole characters, as the streaming decoder produces them.
public struct StopStringMatcher: Sendable {
    private let stops: [[UInt8]]
    private var text: [UInt8] = []
    private var emitted = 0
    public private(set) var stopped = false

    public init(stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds generated text; returns the part that is now safe to show.
    /// After a stop string is found, `stopped` is true and later input is ignored.
    public mutating func append(_ piece: String) -> String {
        guard !stopped else { return "" }
        text.append(contentsOf: piece.utf8)
        if let cut = firstStop() {
            stopped = true
            text.removeSubrange(cut...)
            return flush(upTo: cut)
        }
        return flush(upTo: text.count - heldBackCount())
    }

    /// The rest of the text once generation ends without a stop string.
    public mutating func finish() -> String {
        flush(upTo: text.count)
    }

    /// Everything kept so far (the final output text once finished).
    public var fullText: String { String(decoding: text, as: UTF8.self) }

    private mutating func flush(upTo end: Int) -> String {
        guard end > emitted else { return "" }
        let out = String(decoding: text[emitted..<end], as: UTF8.self)
        emitted = end
        return out
    }

    /// Start of the earliest stop string, searching only where a new match can begin.
    private func firstStop() -> Int? {
        let longest = stops.map(\.count).max() ?? 0
        let from = max(0, emitted - longest + 1)
        guard from < text.count else { return nil }
        for start in from..<text.count {
            for stop in stops where start + stop.count <= text.count {
                if text[start..<(start + stop.count)].elementsEqual(stop) { return start }
            }
        }
        return nil
    }

    /// Length of the longest suffix of the text that is a proper prefix of a stop string.
    private func heldBackCount() -> Int {
        var best = 0
        for stop in stops {
            let limit = min(stop.count - 1, text.count - emitted)
            guard limit > best else { continue }
            for length in stride(from: limit, to: best, by: -1)
            where text[(text.count - length)...].elementsEqual(stop[0..<length]) {
                best = length
                break
            }
        }
        return best
    }
}
