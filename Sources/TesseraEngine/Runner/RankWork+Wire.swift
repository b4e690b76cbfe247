import TesseraModels

/// The bytes of a step as rank 0 sends it to the ranks of other processes: little-endian
/// 64-bit integers, a tag first. `nil` is the message that stops the ranks.
///
/// Written by hand because the step is a few arrays of integers sent once per step: JSON would
/// cost more than the collectives it precedes.
extension RankWork {
    private enum Tag: Int64 {
        case shutdown = 0, forward = 1, task = 2
    }

    static func encode(_ work: RankWork?) -> [UInt8] {
        var words: [Int64] = []
        switch work {
        case nil:
            words.append(Tag.shutdown.rawValue)
        case .forward(let batch):
            words.append(Tag.forward.rawValue)
            append(batch.tokens, to: &words)
            append(batch.positions, to: &words)
            words.append(Int64(batch.sequences.count))
            for span in batch.sequences {
                words += [Int64(span.tokenRange.lowerBound), Int64(span.tokenRange.upperBound), Int64(span.contextLength)]
                append(span.blockTable, to: &words)
            }
            append(batch.logitIndices, to: &words)
        case .task(let index, let arguments):
            words += [Tag.task.rawValue, Int64(index)]
            append(arguments, to: &words)
        }
        return bytes(of: words)
    }

    static func decode(_ bytes: [UInt8]) throws(RunnerError) -> RankWork? {
        var reader = try WordReader(bytes)
        let work: RankWork?
        switch Tag(rawValue: try reader.next()) {
        case .shutdown:
            work = nil
        case .forward:
            let tokens = try reader.array()
            let positions = try reader.array()
            var sequences: [SequenceSpan] = []
            for _ in 0..<(try reader.count()) {
                let lower = try reader.int(), upper = try reader.int(), context = try reader.int()
                guard lower <= upper else { throw .malformedStep("token range \(lower)..<\(upper)") }
                sequences.append(SequenceSpan(tokenRange: lower..<upper, contextLength: context, blockTable: try reader.array()))
            }
            work = .forward(ForwardBatch(tokens: tokens, positions: positions, sequences: sequences, logitIndices: try reader.array()))
        case .task:
            work = .task(index: try reader.int(), arguments: try reader.array())
        case nil:
            throw .malformedStep("unknown tag")
        }
        guard reader.atEnd else { throw .malformedStep("\(bytes.count) bytes, more than the step holds") }
        return work
    }

    private static func append(_ values: [Int], to words: inout [Int64]) {
        words.append(Int64(values.count))
        for value in values { words.append(Int64(value)) }
    }
}

/// The first message of a multi-process run, before any step: rank 0's KV block count, which
/// every rank allocates (one word, in the steps' encoding).
enum BlockCountMessage {
    static func encode(_ blocks: Int) -> [UInt8] { bytes(of: [Int64(blocks)]) }

    static func decode(_ bytes: [UInt8]) throws(RunnerError) -> Int {
        var reader = try WordReader(bytes)
        let blocks = try reader.int()
        guard reader.atEnd, blocks >= 0 else { throw .malformedStep("expected the block count from rank 0") }
        return blocks
    }
}

private func bytes(of words: [Int64]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(words.count * 8)
    for word in words {
        withUnsafeBytes(of: word.littleEndian) { bytes += $0 }
    }
    return bytes
}

/// Reads the integers of a step, refusing truncated or nonsensical input.
private struct WordReader {
    private let words: [Int64]
    private var index = 0

    init(_ bytes: [UInt8]) throws(RunnerError) {
        guard bytes.count % 8 == 0, !bytes.isEmpty else { throw .malformedStep("\(bytes.count) bytes is not a whole number of words") }
        words = stride(from: 0, to: bytes.count, by: 8).map { start in
            var word: Int64 = 0
            withUnsafeMutableBytes(of: &word) { $0.copyBytes(from: bytes[start..<start + 8]) }
            return Int64(littleEndian: word)
        }
    }

    var atEnd: Bool { index == words.count }

    mutating func next() throws(RunnerError) -> Int64 {
        guard index < words.count else { throw .malformedStep("truncated after \(index) words") }
        defer { index += 1 }
        return words[index]
    }

    mutating func int() throws(RunnerError) -> Int { Int(try next()) }

    /// A count of items that must still fit in what is left.
    mutating func count() throws(RunnerError) -> Int {
        let count = try next()
        guard count >= 0, count <= Int64(words.count - index) else { throw .malformedStep("count \(count) at word \(index - 1)") }
        return Int(count)
    }

    mutating func array() throws(RunnerError) -> [Int] {
        let count = try count()
        defer { index += count }
        return words[index..<index + count].map { Int($0) }
    }
}
