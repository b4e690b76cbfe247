import Foundation
import TesseraTokenizer

/// The vocabulary as a byte trie: each token's bytes (taken once, `Tokenizer.tokenBytes`) spell
/// a path from the root; tokens are listed at the node where their bytes end. Special tokens
/// and tokens without bytes are left out (a constraint never allows them). Built once per
/// tokenizer.
public final class VocabularyTrie: Sendable {
    /// Children of node i: `childBytes`/`childNodes` in `childStart[i]..<childStart[i+1]`.
    let childStart: [Int32]
    let childBytes: [UInt8]
    let childNodes: [Int32]
    /// Tokens ending at node i: `tokens` in `tokenStart[i]..<tokenStart[i+1]`.
    let tokenStart: [Int32]
    let tokens: [Int32]
    public let vocabularySize: Int

    public init(tokenizer: Tokenizer) {
        vocabularySize = tokenizer.vocabularySize
        // A pointer trie first, then flattened breadth-first.
        var children: [[UInt8: Int32]] = [[:]]
        var ending: [[Int32]] = [[]]
        for id in 0..<tokenizer.vocabularySize where !tokenizer.isSpecialToken(id) {
            let bytes = tokenizer.tokenBytes(id)
            guard !bytes.isEmpty else { continue }
            var node: Int32 = 0
            for byte in bytes {
                if let child = children[Int(node)][byte] {
                    node = child
                } else {
                    children.append([:])
                    ending.append([])
                    let child = Int32(children.count - 1)
                    children[Int(node)][byte] = child
                    node = child
                }
            }
            ending[Int(node)].append(Int32(id))
        }
        var childStart: [Int32] = [0]
        var childBytes: [UInt8] = []
        var childNodes: [Int32] = []
        var tokenStart: [Int32] = [0]
        var tokens: [Int32] = []
        for node in children.indices {
            for (byte, child) in children[node].sorted(by: { $0.key < $1.key }) {
                childBytes.append(byte)
                childNodes.append(child)
            }
            childStart.append(Int32(childBytes.count))
            tokens.append(contentsOf: ending[node])
            tokenStart.append(Int32(tokens.count))
        }
        self.childStart = childStart
        self.childBytes = childBytes
        self.childNodes = childNodes
        self.tokenStart = tokenStart
        self.tokens = tokens
    }

    public var nodeCount: Int { childStart.count - 1 }

    /// The tokens whose bytes keep `state` alive, as a bitset over the vocabulary: a walk of the
    /// trie from the root that advances a copy of the state byte by byte and prunes a subtree
    /// at the first byte the state rejects.
    public func allowed(from state: JSONRecognizer) -> TokenMask {
        var mask = TokenMask(count: vocabularySize)
        walk(0, state, &mask)
        return mask
    }

    private func walk(_ node: Int32, _ state: JSONRecognizer, _ mask: inout TokenMask) {
        let n = Int(node)
        for edge in Int(childStart[n])..<Int(childStart[n + 1]) {
            guard let next = state.advanced(childBytes[edge]) else { continue }
            let child = Int(childNodes[edge])
            for t in Int(tokenStart[child])..<Int(tokenStart[child + 1]) { mask.insert(Int(tokens[t])) }
            walk(childNodes[edge], next, &mask)
        }
    }
}

/// A set of token ids as bits.
public struct TokenMask: Sendable, Equatable {
    var words: [UInt64]
    public let count: Int

    public init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    public mutating func insert(_ id: Int) { words[id >> 6] |= 1 << UInt64(id & 63) }
    public func contains(_ id: Int) -> Bool { id >= 0 && id < count && words[id >> 6] & (1 << UInt64(id & 63)) != 0 }
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
    public var ids: [Int] { (0..<count).filter(contains) }
}

/// One request's constraint while it decodes: the recognizer's state and the masks it needs,
/// from a cache shared by the requests with the same schema (states recur: inside a string the
/// same stack comes back token after token).
///
/// The mask of the next step is computed in the background as soon as a token is accepted
/// (`prefetchMask`), while the model runs the step, so a state not seen before delays neither
/// this request nor the others in its batch by the trie walk (tens of ms for a new state).
final class JSONConstraintState {
    private(set) var recognizer: JSONRecognizer
    private let trie: VocabularyTrie
    private let cache: MaskCache
    /// The background computation of the current state's mask, if one was started.
    private var pending: PendingMask?

    init(grammar: JSONSchemaGrammar, trie: VocabularyTrie, cache: MaskCache) {
        recognizer = JSONRecognizer(grammar: grammar)
        self.trie = trie
        self.cache = cache
    }

    var isComplete: Bool { recognizer.isComplete }
    var canContinue: Bool { recognizer.canContinue }

    /// The tokens allowed in the current state (waits for a prefetch in flight).
    func mask() -> TokenMask {
        if let pending {
            self.pending = nil
            return pending.value()
        }
        return cache.mask(for: recognizer, trie: trie)
    }

    /// Reads the bytes of the token drawn (false if they do not fit: it was not allowed).
    func accept(_ bytes: [UInt8]) -> Bool {
        pending = nil
        return recognizer.accept(bytes)
    }

    /// Starts computing the current state's mask on another thread, unless it is cached.
    func prefetchMask() {
        let state = recognizer
        guard pending == nil, !cache.contains(state) else { return }
        let result = PendingMask()
        pending = result
        let (trie, cache) = (trie, cache)
        DispatchQueue.global(qos: .userInitiated).async {
            result.fulfil(cache.mask(for: state, trie: trie))
        }
    }
}

/// A mask being computed on another thread.
private final class PendingMask: @unchecked Sendable {
    // @unchecked: `mask` is written once under `lock`, read after `done` is signalled.
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var mask: TokenMask?

    func fulfil(_ value: TokenMask) {
        lock.withLock { mask = value }
        done.signal()
    }

    func value() -> TokenMask {
        done.wait()
        done.signal()   // a second reader would not block
        return lock.withLock { mask! }
    }
}

/// Masks by recognizer state, for one schema and one vocabulary; safe to use from the engine
/// thread and the background prefetches at once.
final class MaskCache: @unchecked Sendable {
    // @unchecked: `masks` is only touched under `lock`.
    static let limit = 1024
    private let lock = NSLock()
    private var masks: [JSONRecognizer: TokenMask] = [:]

    func contains(_ state: JSONRecognizer) -> Bool { lock.withLock { masks[state] != nil } }

    /// The cached mask of `state`, or a new one (the trie walk runs outside the lock).
    func mask(for state: JSONRecognizer, trie: VocabularyTrie) -> TokenMask {
        if let known = lock.withLock({ masks[state] }) { return known }
        let mask = trie.allowed(from: state)
        lock.withLock {
            if masks.count >= Self.limit { masks.removeAll(keepingCapacity: true) }
            masks[state] = mask
        }
        return mask
    }
}
