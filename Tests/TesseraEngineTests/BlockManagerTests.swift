import Testing
@testable import TesseraEngine

@Suite struct BlockManagerTests {
    /// Admits `sequence` with room for all of it, runs every token and commits; returns the
    /// tokens it found cached.
    static func run(_ manager: inout BlockManager, _ sequence: EngineSequence) -> Int {
        let admitted = manager.admit(sequence, budget: .max, keepingFree: 0)!
        sequence.numComputed = sequence.tokens.count
        manager.commit(sequence)
        return admitted.cached
    }

    /// The blocks the cache would give `tokens` now, looked up without taking them.
    static func cachedPrefix(_ manager: BlockManager, _ tokens: [Int]) -> [Int] {
        var hashes: [UInt64] = []
        BlockHash.extend(&hashes, tokens: tokens, tokensPerBlock: manager.tokensPerBlock)
        return manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: hashes.count)
    }

    @Test func admitsGrowsAndFrees() {
        var manager = BlockManager(numBlocks: 5, blockSize: 4, cp: 1, cachingEnabled: true)
        let a = EngineSequence.make("a", prompt: Array(0..<9))
        let admitted = manager.admit(a, budget: 6, keepingFree: 0)
        #expect(admitted?.cached == 0 && admitted?.count == 6, "a chunk as large as the budget")
        #expect(a.blockTable.count == 2 && manager.freeCount == 3)
        a.numComputed = 6
        let grew = manager.grow(a, toHold: 9)
        #expect(grew && a.blockTable.count == 3 && manager.freeCount == 2)
        let fits = manager.grow(a, toHold: 12)
        #expect(fits && manager.freeCount == 2, "the last block has room")
        #expect(manager.capacity(of: a) == 5 * 4)

        let b = EngineSequence.make("b", prompt: Array(100..<112))
        let refused = manager.admit(b, budget: 100, keepingFree: 2)
        #expect(refused == nil && b.blockTable.isEmpty && manager.freeCount == 2,
                "nothing taken when no token fits beside the reserve")
        let chunk = manager.admit(b, budget: 100, keepingFree: 0)
        #expect(chunk?.count == 8, "a chunk as large as the free blocks")
        let grewPastThePool = manager.grow(b, toHold: 12)
        #expect(!grewPastThePool && b.blockTable.count == 2, "nothing taken when the pool is short")
        manager.free(a)
        manager.free(b)
        #expect(manager.freeCount == 5 && manager.usedCount == 0 && a.blockTable.isEmpty && b.blockTable.isEmpty)
        #expect(manager.blocksNeeded(tokens: 0) == 0 && manager.blocksNeeded(tokens: 4) == 1 && manager.blocksNeeded(tokens: 5) == 2)
    }

    /// With cp ranks a logical block holds `blockSize` tokens on each of them.
    @Test func aLogicalBlockSpansTheCPGroup() {
        var manager = BlockManager(numBlocks: 4, blockSize: 2, cp: 3, cachingEnabled: true)
        #expect(manager.tokensPerBlock == 6)
        #expect(manager.blocksNeeded(tokens: 6) == 1 && manager.blocksNeeded(tokens: 7) == 2)
        let a = EngineSequence.make("a", prompt: Array(0..<13))
        let aCached = Self.run(&manager, a)
        #expect(aCached == 0 && a.blockTable.count == 3 && manager.cachedCount == 2)
        let bCached = Self.run(&manager, EngineSequence.make("b", prompt: Array(0..<13)))
        #expect(bCached == 12)
    }

    /// A block enters the cache once its tokens are computed; sharing it counts references.
    @Test func commitsComputedFullBlocksAndSharesThem() {
        var manager = BlockManager(numBlocks: 8, blockSize: 4, cp: 1, cachingEnabled: true)
        let tokens = Array(10..<22)   // three full blocks
        let a = EngineSequence.make("a", prompt: tokens)
        _ = manager.admit(a, budget: 6, keepingFree: 0)
        a.numComputed = 6
        manager.commit(a)
        #expect(manager.cachedCount == 1, "only the first block is full and computed")
        let grew = manager.grow(a, toHold: 12)
        #expect(grew)
        a.numComputed = 12
        manager.commit(a)
        #expect(manager.cachedCount == 3 && Self.cachedPrefix(manager, tokens) == a.blockTable)

        let b = EngineSequence.make("b", prompt: tokens + [7])
        let bCached = Self.run(&manager, b)
        #expect(bCached == 12 && Array(b.blockTable.prefix(3)) == a.blockTable)
        #expect(manager.referenceCount(of: a.blockTable[0]) == 2)
        manager.free(a)
        #expect(manager.referenceCount(of: b.blockTable[0]) == 1 && manager.usedCount == 4)
        manager.free(b)
        #expect(manager.usedCount == 0 && manager.cachedCount == 3, "freed blocks keep their content")
    }

    @Test func findsTheLongestCachedPrefix() {
        var manager = BlockManager(numBlocks: 8, blockSize: 4, cp: 1, cachingEnabled: true)
        let tokens = Array(10..<22)   // three full blocks
        let first = EngineSequence.make("first", prompt: tokens)
        let firstCached = Self.run(&manager, first)
        #expect(firstCached == 0 && manager.cachedCount == 3)
        // The same tokens again: all but the last block (one token at least must run).
        let againCached = Self.run(&manager, EngineSequence.make("again", prompt: tokens))
        #expect(againCached == 8)
        // Same first block, different second: one block.
        var other = tokens
        other[5] = 99
        let otherCached = Self.run(&manager, EngineSequence.make("other", prompt: other + [7]))
        #expect(otherCached == 4)
        // A forged hash with other tokens is refused: content is compared on every hit.
        var hashes: [UInt64] = []
        BlockHash.extend(&hashes, tokens: tokens, tokensPerBlock: 4)
        var forged = tokens
        forged[0] = 11
        #expect(manager.cachedPrefix(hashes: hashes, tokens: forged, maxBlocks: 3).isEmpty)
        #expect(manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 3) == first.blockTable)
        // Disabled caching never hits.
        var off = BlockManager(numBlocks: 8, blockSize: 4, cp: 1, cachingEnabled: false)
        let offCached = [tokens, tokens + [7]].map { Self.run(&off, EngineSequence.make("a", prompt: $0)) }
        #expect(offCached == [0, 0] && off.cachedCount == 0)
    }

    /// A preempted sequence keeps its hashes and finds its own freed blocks again.
    @Test func aFreedSequenceComesBackToItsBlocks() {
        var manager = BlockManager(numBlocks: 4, blockSize: 4, cp: 1, cachingEnabled: true)
        let a = EngineSequence.make("a", prompt: Array(0..<10))
        _ = Self.run(&manager, a)
        let table = a.blockTable
        manager.free(a)
        let admitted = manager.admit(a, budget: .max, keepingFree: 0)
        #expect(admitted?.cached == 8)
        #expect(Array(a.blockTable.prefix(2)) == Array(table.prefix(2)))
    }

    /// Freed cached blocks stay reusable until allocation needs them; blocks without content
    /// go first, then the least recently freed cached ones, a table's tail before its head.
    @Test func evictsLeastRecentlyFreedTailFirst() {
        var manager = BlockManager(numBlocks: 6, blockSize: 2, cp: 1, cachingEnabled: true)
        let tokens = [1, 2, 3, 4, 5, 6]
        let cached = EngineSequence.make("cached", prompt: tokens)
        _ = Self.run(&manager, cached)
        let table = cached.blockTable
        let scratch = EngineSequence.make("scratch", prompt: [9])   // no full block: never cached
        _ = Self.run(&manager, scratch)
        manager.free(cached)
        manager.free(scratch)
        #expect(manager.freeCount == 6 && manager.cachedCount == 3)
        // Three blocks: the two never used and the scratch one go before any cached block.
        let fresh = EngineSequence.make("fresh", prompt: [20, 21, 22, 23, 24, 25])
        _ = manager.admit(fresh, budget: .max, keepingFree: 0)
        #expect(Set(fresh.blockTable).isDisjoint(with: table) && manager.evictions == 0)
        #expect(Self.cachedPrefix(manager, tokens) == table)
        // One more: the table's last block is evicted first, so the prefix keeps two blocks.
        let next = EngineSequence.make("next", prompt: [30])
        _ = manager.admit(next, budget: .max, keepingFree: 0)
        #expect(next.blockTable == [table[2]] && manager.evictions == 1)
        #expect(Self.cachedPrefix(manager, tokens) == Array(table.prefix(2)))
        // A hit on a free cached block takes it out of the free queue; the fresh block for the
        // last token evicts the next one.
        let again = EngineSequence.make("again", prompt: [1, 2, 3])
        let admitted = manager.admit(again, budget: .max, keepingFree: 0)
        #expect(admitted?.cached == 2 && admitted?.count == 1)
        #expect(again.blockTable == [table[0], table[1]] && manager.evictions == 2)
        #expect(manager.referenceCount(of: table[0]) == 1 && manager.freeCount == 0)
        #expect(Self.cachedPrefix(manager, tokens) == [table[0]])
    }

    /// The chained hash is stable across processes (pinned values), depends on the parent and on
    /// token order.
    @Test func blockHashIsStableAndChained() {
        let a = BlockHash.hash(parent: BlockHash.root, tokens: [1, 2, 3, 4][...])
        #expect(a == BlockHash.hash(parent: BlockHash.root, tokens: [1, 2, 3, 4][...]))
        #expect(a != BlockHash.hash(parent: BlockHash.root, tokens: [2, 1, 3, 4][...]))
        #expect(a != BlockHash.hash(parent: a, tokens: [1, 2, 3, 4][...]))
        #expect(a == 18_235_987_094_548_643_302)
    }
}
