/// Hands out physical KV-cache block ids from a fixed pool.
///
/// Block ids are the same on every rank of a context-parallel group, so the allocator lives
/// on the scheduling rank only and block tables are shipped to the others.
public struct BlockAllocator: Sendable {
    public let blockSize: Int
    public let numBlocks: Int
    private var free: [Int]

    public init(numBlocks: Int, blockSize: Int) {
        precondition(numBlocks >= 0 && blockSize > 0)
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.free = Array((0..<numBlocks).reversed())
    }

    public var freeCount: Int { free.count }

    /// Blocks needed to hold `tokens` tokens.
    public func blocksNeeded(tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// `count` blocks, or an error when the pool cannot supply them (nothing is taken then).
    public mutating func allocate(_ count: Int) throws(BlockAllocatorError) -> [Int] {
        guard count <= free.count else {
            throw .outOfBlocks(requested: count, free: free.count, total: numBlocks)
        }
        let taken = Array(free.suffix(count).reversed())
        free.removeLast(count)
        return taken
    }

    public mutating func release(_ blocks: [Int]) {
        free.append(contentsOf: blocks.reversed())
    }
}

public enum BlockAllocatorError: Error, CustomStringConvertible, Equatable {
    case outOfBlocks(requested: Int, free: Int, total: Int)

    public var description: String {
        switch self {
        case .outOfBlocks(let requested, let free, let total):
            "KV cache exhausted: \(requested) blocks requested, \(free) of \(total) free"
        }
    }
}
