import Testing
@testable import TesseraEngine

@Suite struct BlockAllocatorTests {
    @Test func allocatesDistinctBlocksAndTakesThemBack() throws {
        var allocator = BlockAllocator(numBlocks: 8, blockSize: 16)
        let a = try allocator.allocate(3)
        let b = try allocator.allocate(5)
        #expect(Set(a + b).count == 8)
        #expect(allocator.freeCount == 0)
        #expect(throws: BlockAllocatorError.outOfBlocks(requested: 1, free: 0, total: 8)) { try allocator.allocate(1) }
        allocator.release(a)
        #expect(allocator.freeCount == 3)
        #expect(Set(try allocator.allocate(3)) == Set(a))
    }

    @Test func failedAllocationTakesNothing() throws {
        var allocator = BlockAllocator(numBlocks: 4, blockSize: 16)
        _ = try allocator.allocate(2)
        #expect(throws: BlockAllocatorError.self) { try allocator.allocate(3) }
        #expect(allocator.freeCount == 2)
    }

    @Test func blocksNeededRoundsUp() {
        let allocator = BlockAllocator(numBlocks: 1, blockSize: 16)
        #expect(allocator.blocksNeeded(tokens: 0) == 0)
        #expect(allocator.blocksNeeded(tokens: 1) == 1)
        #expect(allocator.blocksNeeded(tokens: 16) == 1)
        #expect(allocator.blocksNeeded(tokens: 17) == 2)
    }
}
