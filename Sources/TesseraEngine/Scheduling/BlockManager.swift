/// Owns the physical KV blocks of one CP group: reference counts, the free queue and the
/// prefix cache. Lives on the scheduling thread only; block tables go to every rank.
///
/// A block's content is registered in the prefix cache once it is a *full* logical block
/// (`tokensPerBlock = blockSize * cp` tokens) whose K/V every rank has written. Freed blocks
/// keep their content until allocation needs them (LRU eviction), so a later request with the
/// same prefix, or a preempted sequence coming back, reuses them instead of recomputing.
struct BlockManager {
    let numBlocks: Int
    let tokensPerBlock: Int
    let cachingEnabled: Bool

    /// What a registered block holds: compared on every hit so a hash collision cannot alias.
    private struct Content {
        var hash: UInt64
        var parent: UInt64
        var tokens: [Int]
    }

    private var referenceCount: [Int]
    private var content: [Content?]
    private var cachedBlock: [UInt64: Int] = [:]
    private var free: FreeBlockQueue
    /// Cached blocks dropped to make room: a measure of cache pressure.
    private(set) var evictions = 0

    init(numBlocks: Int, tokensPerBlock: Int, cachingEnabled: Bool) {
        self.numBlocks = numBlocks
        self.tokensPerBlock = tokensPerBlock
        self.cachingEnabled = cachingEnabled
        referenceCount = Array(repeating: 0, count: numBlocks)
        content = Array(repeating: nil, count: numBlocks)
        free = FreeBlockQueue(numBlocks: numBlocks)
    }

    /// Blocks no sequence uses (some may still hold cached content).
    var freeCount: Int { free.count }
    var usedCount: Int { numBlocks - free.count }
    /// Blocks currently registered in the prefix cache, in use or not.
    var cachedCount: Int { cachedBlock.count }

    func referenceCount(of block: Int) -> Int { referenceCount[block] }

    /// Logical blocks needed for `tokens` tokens.
    func blocksNeeded(tokens: Int) -> Int { (tokens + tokensPerBlock - 1) / tokensPerBlock }

    /// The cached blocks holding the first full blocks of `tokens` (whose chained hashes are
    /// `hashes`), at most `maxBlocks` of them. Takes no reference.
    func cachedPrefix(hashes: [UInt64], tokens: [Int], maxBlocks: Int) -> [Int] {
        guard cachingEnabled else { return [] }
        var blocks: [Int] = []
        for i in 0..<min(maxBlocks, hashes.count) {
            guard let block = cachedBlock[hashes[i]], let held = content[block] else { break }
            let parent = i == 0 ? BlockHash.root : hashes[i - 1]
            let range = (i * tokensPerBlock)..<((i + 1) * tokensPerBlock)
            guard held.parent == parent, held.tokens.elementsEqual(tokens[range]) else { break }
            blocks.append(block)
        }
        return blocks
    }

    /// Free blocks left if the blocks of `hits` were taken as well (those sitting in the free
    /// queue stop being free).
    func freeCount(afterReusing hits: [Int]) -> Int {
        free.count - hits.reduce(0) { $0 + (free.contains($1) ? 1 : 0) }
    }

    /// Takes a reference on each cached block of `hits`.
    mutating func reuse(_ hits: [Int]) {
        for block in hits {
            if referenceCount[block] == 0 { free.remove(block) }
            referenceCount[block] += 1
        }
    }

    /// `count` fresh blocks, evicting the least recently freed cached content as needed;
    /// nil (nothing taken) when fewer than `count` are free.
    mutating func allocate(_ count: Int) -> [Int]? {
        guard count <= free.count else { return nil }
        var blocks: [Int] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            let block = free.popFront()!
            if let held = content[block] {
                cachedBlock[held.hash] = nil
                content[block] = nil
                evictions += 1
            }
            referenceCount[block] = 1
            blocks.append(block)
        }
        return blocks
    }

    /// Drops one reference to each block of a sequence's table. Blocks that nobody uses any
    /// more become free; the table's tail goes first in eviction order, so the shared head of
    /// a prefix stays cached longest.
    mutating func release(_ blocks: [Int]) {
        for block in blocks.reversed() {
            precondition(referenceCount[block] > 0, "block \(block) released more often than taken")
            referenceCount[block] -= 1
            guard referenceCount[block] == 0 else { continue }
            if content[block] == nil { free.pushFront(block) } else { free.pushBack(block) }
        }
    }

    /// Records that `block` now holds the full logical block with chained hash `hash`.
    /// A second block with the same content stays unregistered (the first one is kept).
    mutating func register(_ block: Int, hash: UInt64, parent: UInt64, tokens: ArraySlice<Int>) {
        guard cachingEnabled, content[block] == nil, cachedBlock[hash] == nil else { return }
        precondition(tokens.count == tokensPerBlock, "a cached block holds \(tokensPerBlock) tokens, got \(tokens.count)")
        // A copy: a slice would keep the sequence's whole token buffer alive.
        content[block] = Content(hash: hash, parent: parent, tokens: Array(tokens))
        cachedBlock[hash] = block
    }

    /// Forgets every cached block that nobody uses (for tests and benchmarks between runs).
    mutating func resetPrefixCache() {
        for block in 0..<numBlocks where referenceCount[block] == 0 {
            if let held = content[block] { cachedBlock[held.hash] = nil; content[block] = nil }
        }
    }
}
