import Testing
@testable import TesseraEngine

@Suite struct BlockManagerTests {
    @Test func allocatesUntilEmptyAndCountsReferences() {
        var manager = BlockManager(numBlocks: 5, tokensPerBlock: 4, cachingEnabled: true)
        let a = manager.allocate(3)!
        #expect(Set(a).count == 3 && manager.freeCount == 2)
        #expect(manager.allocate(3) == nil && manager.freeCount == 2, "nothing taken when the pool is short")
        manager.reuse([a[0]])
        #expect(manager.referenceCount(of: a[0]) == 2)
        manager.release(a)
        #expect(manager.freeCount == 4 && manager.referenceCount(of: a[0]) == 1)
        manager.release([a[0]])
        #expect(manager.freeCount == 5 && manager.usedCount == 0)
        #expect(manager.blocksNeeded(tokens: 0) == 0 && manager.blocksNeeded(tokens: 4) == 1 && manager.blocksNeeded(tokens: 5) == 2)
    }

    /// Registers the full blocks of `tokens` held in `table`; returns their hashes.
    static func register(_ manager: inout BlockManager, _ table: [Int], _ tokens: [Int]) -> [UInt64] {
        var hashes: [UInt64] = []
        BlockHash.extend(&hashes, tokens: tokens, tokensPerBlock: manager.tokensPerBlock)
        for (i, block) in table.enumerated() where i < hashes.count {
            let range = (i * manager.tokensPerBlock)..<((i + 1) * manager.tokensPerBlock)
            manager.register(block, hash: hashes[i], parent: i == 0 ? BlockHash.root : hashes[i - 1], tokens: tokens[range])
        }
        return hashes
    }

    @Test func findsTheLongestCachedPrefix() {
        var manager = BlockManager(numBlocks: 8, tokensPerBlock: 4, cachingEnabled: true)
        let tokens = Array(10..<22)   // three full blocks
        let table = manager.allocate(3)!
        let hashes = Self.register(&manager, table, tokens)
        #expect(manager.cachedCount == 3)
        #expect(manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 3) == table)
        #expect(manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 2) == Array(table.prefix(2)))
        // Same first block, different second: one block.
        var other = tokens
        other[5] = 99
        var otherHashes: [UInt64] = []
        BlockHash.extend(&otherHashes, tokens: other, tokensPerBlock: 4)
        #expect(otherHashes[0] == hashes[0] && otherHashes[1] != hashes[1] && otherHashes[2] != hashes[2])
        #expect(manager.cachedPrefix(hashes: otherHashes, tokens: other, maxBlocks: 3) == [table[0]])
        // A forged hash with other tokens is refused: content is compared on every hit.
        var forged = tokens
        forged[0] = 11
        #expect(manager.cachedPrefix(hashes: hashes, tokens: forged, maxBlocks: 3).isEmpty)
        // Disabled caching never hits.
        var off = BlockManager(numBlocks: 8, tokensPerBlock: 4, cachingEnabled: false)
        let offTable = off.allocate(3)!
        _ = Self.register(&off, offTable, tokens)
        #expect(off.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 3).isEmpty && off.cachedCount == 0)
    }

    /// Freed cached blocks stay reusable until allocation needs them; blocks without content
    /// go first, then the least recently freed cached ones, a table's tail before its head.
    @Test func evictsLeastRecentlyFreedTailFirst() {
        var manager = BlockManager(numBlocks: 6, tokensPerBlock: 2, cachingEnabled: true)
        let tokens = [1, 2, 3, 4, 5, 6]
        let table = manager.allocate(3)!
        let hashes = Self.register(&manager, table, tokens)
        let scratch = manager.allocate(1)!   // never registered
        manager.release(table)
        manager.release(scratch)
        #expect(manager.freeCount == 6 && manager.cachedCount == 3)
        // Three blocks: the two never cached and the scratch one go before any cached block.
        let fresh = manager.allocate(3)!
        #expect(Set(fresh).isDisjoint(with: table) && manager.evictions == 0)
        #expect(manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 3) == table)
        // One more: the table's last block is evicted first, so the prefix keeps two blocks.
        let next = manager.allocate(1)!
        #expect(next == [table[2]] && manager.evictions == 1)
        #expect(manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 3) == Array(table.prefix(2)))
        // Reusing a free cached block takes it out of the free queue.
        #expect(manager.freeCount(afterReusing: [table[0]]) == manager.freeCount - 1)
        manager.reuse([table[0]])
        #expect(manager.referenceCount(of: table[0]) == 1 && manager.freeCount == 1)
        #expect(manager.allocate(1) == [table[1]])
        #expect(manager.cachedPrefix(hashes: hashes, tokens: tokens, maxBlocks: 3) == [table[0]])
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
