import Foundation
import TesseraEngine
import TesseraModels

/// A seeded synthetic workload: random token prompts and fixed output lengths, the same for the
/// same parameters on every machine (no tokenizer needed, so dummy weights work).
public struct BenchWorkload: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var promptIDs: [Int]
        public var outputLength: Int
    }

    public var items: [Item]

    /// - Parameters:
    ///   - randomRangeRatio: 0 gives every request exactly `inputLength` and `outputLength`
    ///     tokens; r in (0, 1] draws each uniformly from `[len * (1 - r), len * (1 + r)]` (at least 1).
    ///   - sharedPrefixLength: leading tokens common to every prompt (exercises the prefix cache),
    ///     counted in `inputLength`.
    public init(
        numPrompts: Int, inputLength: Int, outputLength: Int, randomRangeRatio: Double = 0,
        sharedPrefixLength: Int = 0, vocabularySize: Int, seed: UInt64 = 0
    ) throws(BenchError) {
        guard numPrompts >= 1 else { throw .invalid("--num-prompts=\(numPrompts) must be >= 1") }
        guard inputLength >= 1 else { throw .invalid("--input-len=\(inputLength) must be >= 1") }
        guard outputLength >= 1 else { throw .invalid("--output-len=\(outputLength) must be >= 1") }
        guard randomRangeRatio >= 0, randomRangeRatio <= 1 else {
            throw .invalid("--random-range-ratio=\(randomRangeRatio) must be in [0, 1]")
        }
        guard sharedPrefixLength >= 0, sharedPrefixLength < inputLength || sharedPrefixLength == 0 else {
            throw .invalid("--shared-prefix-len=\(sharedPrefixLength) must be in [0, --input-len=\(inputLength))")
        }
        guard vocabularySize >= 1 else { throw .invalid("vocabulary size \(vocabularySize) must be >= 1") }
        var random = SeededRandom(seed: seed)
        func length(_ mean: Int) -> Int {
            guard randomRangeRatio > 0 else { return mean }
            let low = max(1, Int((Double(mean) * (1 - randomRangeRatio)).rounded(.down)))
            let high = max(low, Int((Double(mean) * (1 + randomRangeRatio)).rounded(.down)))
            return low + Int(random.next() % UInt64(high - low + 1))
        }
        func token() -> Int { Int(random.next() % UInt64(vocabularySize)) }
        let prefix = (0..<sharedPrefixLength).map { _ in token() }
        items = (0..<numPrompts).map { _ in
            let input = max(length(inputLength), prefix.count + 1)
            let output = length(outputLength)
            return Item(promptIDs: prefix + (prefix.count..<input).map { _ in token() }, outputLength: output)
        }
    }

    public var inputTokens: Int { items.reduce(0) { $0 + $1.promptIDs.count } }
    public var outputTokens: Int { items.reduce(0) { $0 + $1.outputLength } }
}

public enum BenchError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case requestFailed(index: Int, String)

    public var description: String {
        switch self {
        case .invalid(let why): "invalid benchmark: \(why)"
        case .requestFailed(let index, let why): "benchmark request \(index) failed: \(why)"
        }
    }
}
