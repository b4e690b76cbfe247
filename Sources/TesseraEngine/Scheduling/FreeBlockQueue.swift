/// The blocks nobody uses, in eviction order: allocation takes from the front.
///
/// A doubly linked list over block ids, so a cached block that a new request hits can leave
/// the middle of the queue in O(1). Blocks without cached content go to the front (reused
/// first); cached ones to the back, so the least recently freed cached block is evicted first.
struct FreeBlockQueue {
    private var next: [Int]
    private var previous: [Int]
    private var member: [Bool]
    private var head = -1
    private var tail = -1
    private(set) var count = 0

    /// All `numBlocks` blocks, in id order.
    init(numBlocks: Int) {
        next = Array(repeating: -1, count: numBlocks)
        previous = Array(repeating: -1, count: numBlocks)
        member = Array(repeating: false, count: numBlocks)
        for block in 0..<numBlocks { pushBack(block) }
    }

    func contains(_ block: Int) -> Bool { member[block] }

    /// Frees `block` last in eviction order.
    mutating func pushBack(_ block: Int) { link(block, after: tail, before: -1) }

    /// Frees `block` first in eviction order.
    mutating func pushFront(_ block: Int) { link(block, after: -1, before: head) }

    /// Puts `block` between the neighbours `p` and `n` (-1: the end of the queue on that side).
    private mutating func link(_ block: Int, after p: Int, before n: Int) {
        precondition(!member[block], "block \(block) is already free")
        previous[block] = p
        next[block] = n
        if p == -1 { head = block } else { next[p] = block }
        if n == -1 { tail = block } else { previous[n] = block }
        member[block] = true
        count += 1
    }

    mutating func remove(_ block: Int) {
        precondition(member[block], "block \(block) is not free")
        let p = previous[block], n = next[block]
        if p == -1 { head = n } else { next[p] = n }
        if n == -1 { tail = p } else { previous[n] = p }
        member[block] = false
        count -= 1
    }

    mutating func popFront() -> Int? {
        guard head != -1 else { return nil }
        let block = head
        remove(block)
        return block
    }
}
