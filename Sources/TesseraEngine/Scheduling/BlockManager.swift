import TesseraDistributed

/// Owns the physical KV blocks of one CP group: reference counts, the free queue and the
/// prefix cache. Lives on the scheduling thread only; block tables go to every rank.
///
/// A sequence's blocks: `admit` looks up its cached prefix and takes those blocks plus fresh
/// ones, `grow` adds blocks as it runs, `commit` registers in the prefix cache every *full*
/// logical block whose K/V every rank has written, `free` gives the blocks back. Freed blocks
/// keep their content until allocation needs them (LRU eviction), so a later request with the
/// same prefix, or a preempted sequence coming back, reuses them instead of recomputing.
struct BlockManager {
    let numBlocks: Int
    /// Tokens one logical block (one block-table entry) holds across the CP group.
    let tokensPerBlock: Int
    let cachingEnabled: Bool
    /// Sliding-window attention: blocks wholly older than every future query's window are
    /// given back as the sequence runs. nil: full attention keeps every block.
    let slidingWindow: Int?
    /// The block-table entry of a block given back for the window (never read again).
    static let released = -1
    private let blockSize: Int
    private let placement: KVPlacement

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

    /// `numBlocks` physical blocks of `blockSize` tokens on each of the `cp` ranks of a group.
    init(numBlocks: Int, blockSize: Int, cp: Int, cachingEnabled: Bool, slidingWindow: Int? = nil) {
        self.numBlocks = numBlocks
        self.slidingWindow = slidingWindow
        self.blockSize = blockSize
        placement = KVPlacement(cp: cp)
        tokensPerBlock = placement.tokensPerLogicalBlock(blockSize: blockSize)
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
    func blocksNeeded(tokens: Int) -> Int { placement.logicalBlocks(for: tokens, blockSize: blockSize) }

    // MARK: A sequence's blocks

    /// Admits `sequence` (holding no blocks) if at least one of its tokens fits: takes the
    /// cached blocks of its longest cached prefix, never the whole sequence (one token at least
    /// must run to give logits), and fresh blocks for up to `budget` more tokens, leaving
    /// `reserve` blocks free. Returns how many tokens were found cached and how many to compute
    /// next; nil, with nothing taken, when no token fits.
    mutating func admit(_ sequence: EngineSequence, budget: Int, keepingFree reserve: Int) -> (cached: Int, count: Int)? {
        precondition(sequence.blocks.table.isEmpty, "sequence \(sequence.id) is admitted while holding blocks")
        let hits = cachedPrefix(of: sequence)
        let cached = hits.count * tokensPerBlock
        let room = (freeCount(afterReusing: hits) - reserve) * tokensPerBlock
        let count = min(sequence.tokens.count - cached, budget, room)
        guard count > 0 else { return nil }
        reuse(hits)
        sequence.blocks.table = hits + allocate(blocksNeeded(tokens: cached + count) - hits.count)!
        sequence.blocks.committed = hits.count
        return (cached, count)
    }

    /// Adds fresh blocks until `sequence` can hold `tokens` tokens; false, with nothing taken,
    /// when too few are free.
    mutating func grow(_ sequence: EngineSequence, toHold tokens: Int) -> Bool {
        let missing = blocksNeeded(tokens: tokens) - sequence.blocks.table.count
        guard missing > 0 else { return true }
        guard let fresh = allocate(missing) else { return false }
        sequence.blocks.table += fresh
        return true
    }

    /// Tokens `sequence` could hold in its own blocks and every free one (counting positions
    /// from 0: blocks given back for the window count as held, since they never return).
    func capacity(of sequence: EngineSequence) -> Int {
        (sequence.blocks.table.count + freeCount) * tokensPerBlock
    }

    /// Registers in the prefix cache the full blocks among the first `sequence.numComputed`
    /// tokens (their K/V written on every rank) that are not registered yet.
    mutating func commit(_ sequence: EngineSequence) {
        guard cachingEnabled else { return }
        BlockHash.extend(&sequence.blocks.hashes, tokens: sequence.tokens, tokensPerBlock: tokensPerBlock)
        let full = sequence.numComputed / tokensPerBlock
        while sequence.blocks.committed < full {
            let i = sequence.blocks.committed
            register(sequence.blocks.table[i], hash: sequence.blocks.hashes[i],
                     parent: BlockHash.parent(of: i, in: sequence.blocks.hashes),
                     tokens: BlockHash.tokens(ofBlock: i, in: sequence.tokens, tokensPerBlock: tokensPerBlock))
            sequence.blocks.committed += 1
        }
    }

    /// With a sliding window of `w`, gives back the leading blocks that no future query of
    /// `sequence` can see: the next query is at position `numComputed` and sees keys from
    /// `numComputed - w + 1` on, so a logical block of `tokensPerBlock` tokens ending before that
    /// is dead. Call after `commit`, so full blocks enter the prefix cache first (a dead block
    /// keeps its cached content until evicted, like any freed block).
    mutating func releaseOutsideWindow(_ sequence: EngineSequence) {
        guard let window = slidingWindow else { return }
        let dead = min(max(0, sequence.numComputed - window + 1) / tokensPerBlock, sequence.blocks.table.count)
        while sequence.blocks.released < dead {
            let i = sequence.blocks.released
            release([sequence.blocks.table[i]])
            sequence.blocks.table[i] = Self.released
            sequence.blocks.released += 1
        }
    }

    /// Blocks a sequence holds: its table without the entries given back for the window.
    func heldBlocks(of sequence: EngineSequence) -> Int {
        sequence.blocks.table.count - sequence.blocks.released
    }

    /// Gives back every block of `sequence` (finished, aborted or preempted). Its hashes stay:
    /// a preempted sequence coming back looks its prefix up with them.
    mutating func free(_ sequence: EngineSequence) {
        release(sequence.blocks.table.filter { $0 != Self.released })
        sequence.blocks.table = []
        sequence.blocks.committed = 0
        sequence.blocks.released = 0
    }

    /// Forgets every cached block that nobody uses (for tests and benchmarks between runs).
    mutating func resetPrefixCache() {
        for block in 0..<numBlocks where referenceCount[block] == 0 {
            if let held = content[block] { cachedBlock[held.hash] = nil; content[block] = nil }
        }
    }

    // MARK: Blocks and the prefix cache

    /// The cached blocks of `sequence`'s longest cached prefix, never all of its tokens.
    private func cachedPrefix(of sequence: EngineSequence) -> [Int] {
        guard cachingEnabled else { return [] }
        BlockHash.extend(&sequence.blocks.hashes, tokens: sequence.tokens, tokensPerBlock: tokensPerBlock)
        return cachedPrefix(hashes: sequence.blocks.hashes, tokens: sequence.tokens,
                            maxBlocks: (sequence.tokens.count - 1) / tokensPerBlock)
    }

    /// The cached blocks holding the first full blocks of `tokens` (whose chained hashes are
    /// `hashes`), at most `maxBlocks` of them. Takes no reference.
    func cachedPrefix(hashes: [UInt64], tokens: [Int], maxBlocks: Int) -> [Int] {
        guard cachingEnabled else { return [] }
        var blocks: [Int] = []
        for i in 0..<min(maxBlocks, hashes.count) {
            guard let block = cachedBlock[hashes[i]], let held = content[block],
                  held.parent == BlockHash.parent(of: i, in: hashes),
                  held.tokens.elementsEqual(BlockHash.tokens(ofBlock: i, in: tokens, tokensPerBlock: tokensPerBlock))
            else { break }
            blocks.append(block)
        }
        return blocks
    }

    /// Free blocks left if the blocks of `hits` were taken as well (those sitting in the free
    /// queue stop being free).
    private func freeCount(afterReusing hits: [Int]) -> Int {
        free.count - hits.reduce(0) { $0 + (free.contains($1) ? 1 : 0) }
    }

    /// Takes a reference on each cached block of `hits`.
    private mutating func reuse(_ hits: [Int]) {
        for block in hits {
            if referenceCount[block] == 0 { free.remove(block) }
            referenceCount[block] += 1
        }
    }

    /// `count` fresh blocks, evicting the least recently freed cached content as needed;
    /// nil (nothing taken) when fewer than `count` are free.
    private mutating func allocate(_ count: Int) -> [Int]? {
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
    private mutating func release(_ blocks: [Int]) {
        for block in blocks.reversed() {
            precondition(referenceCount[block] > 0, "block \(block) released more often than taken")
            referenceCount[block] -= 1
            guard referenceCount[block] == 0 else { continue }
            if content[block] == nil { free.pushFront(block) } else { free.pushBack(block) }
        }
    }

    /// Records that `block` now holds the full logical block with chained hash `hash`.
    /// A second block with the same content stays unregistered (the first one is kept).
    private mutating func register(_ block: Int, hash: UInt64, parent: UInt64, tokens: ArraySlice<Int>) {
        guard content[block] == nil, cachedBlock[hash] == nil else { return }
        precondition(tokens.count == tokensPerBlock, "a cached block holds \(tokensPerBlock) tokens, got \(tokens.count)")
        // A copy: a slice would keep the sequence's whole token buffer alive.
        content[block] = Content(hash: hash, parent: parent, tokens: Array(tokens))
        cachedBlock[hash] = block
    }
}

/// The block manager's state of one sequence, kept in the sequence and changed only here.
struct SequenceBlocks {
    /// Physical ids of the sequence's logical blocks, in position order: its block table.
    fileprivate(set) var table: [Int] = []
    /// Chained hashes of the full logical blocks of its tokens known so far (with caching on).
    fileprivate(set) var hashes: [UInt64] = []
    /// Leading blocks of `table` registered in (or taken from) the prefix cache.
    fileprivate(set) var committed = 0
    /// Leading blocks given back because no future query can see them (sliding window):
    /// their table entries are `BlockManager.released`.
    fileprivate(set) var released = 0
}
