/// FCFS continuous batching over the paged cache.
///
/// Each step: every running decode gets its token first, then running prompts get chunks of
/// what budget is left (oldest first), then waiting sequences are admitted in arrival order
/// while the budget, `maxNumSeqs` and the free blocks allow. A sequence that needs a block when
/// none is free preempts the newest running sequence (recompute: blocks freed, back to the head
/// of the waiting queue). Admission never skips ahead of the oldest waiting sequence.
struct Scheduler {
    let options: EngineOptions
    private(set) var blocks: BlockManager
    private(set) var waiting: [EngineSequence] = []
    /// In admission order: the last one is the first to be preempted.
    private(set) var running: [EngineSequence] = []

    private(set) var preemptionCount = 0
    /// Prompt tokens looked up in the prefix cache at admission, and those found.
    private(set) var prefixQueryTokens = 0
    private(set) var prefixHitTokens = 0
    private(set) var peakBlocksUsed = 0

    /// `numBlocks` blocks of `blockSize` tokens on each of the `cp` ranks of a group.
    init(options: EngineOptions, numBlocks: Int, blockSize: Int, cp: Int, slidingWindow: Int? = nil) {
        self.options = options
        blocks = BlockManager(numBlocks: numBlocks, blockSize: blockSize, cp: cp, cachingEnabled: options.enablePrefixCaching,
                              slidingWindow: slidingWindow)
    }

    var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    mutating func add(_ sequence: EngineSequence) {
        sequence.status = .waiting
        waiting.append(sequence)
    }

    /// Plans the next step. Empty only when nothing waits or runs.
    mutating func schedule() -> StepPlan {
        var plan = StepPlan()
        var budget = options.maxNumBatchedTokens
        let order = running.filter(\.isDecoding) + running.filter { !$0.isDecoding }
        for sequence in order where budget > 0 && sequence.status == .running {
            if let count = grow(sequence, wanting: min(sequence.uncomputed, budget), plan: &plan, budget: &budget) {
                plan.chunks.append(ScheduledChunk(sequence: sequence, start: sequence.numComputed, count: count))
                budget -= count
            }
        }
        // After a preemption the cache is full: admitting now would only thrash.
        if plan.preempted.isEmpty {
            admit(plan: &plan, budget: &budget)
        }
        peakBlocksUsed = max(peakBlocksUsed, blocks.usedCount)
        return plan
    }

    /// Makes room for `wanted` more tokens of a running sequence, preempting the newest running
    /// sequences as needed; returns how many tokens it may run (a prompt chunk may shrink to
    /// the blocks there are), or nil when it was preempted itself.
    private mutating func grow(_ sequence: EngineSequence, wanting wanted: Int, plan: inout StepPlan, budget: inout Int) -> Int? {
        var count = wanted
        while true {
            if blocks.grow(sequence, toHold: sequence.numComputed + count) { return count }
            if !sequence.isDecoding {
                // Room in the blocks it has plus the free ones.
                let room = blocks.capacity(of: sequence) - sequence.numComputed
                if room > 0 {
                    count = min(count, room)
                    continue
                }
            }
            let victim = running.last!
            preempt(victim, plan: &plan, budget: &budget)
            if victim === sequence { return nil }
        }
    }

    private mutating func preempt(_ sequence: EngineSequence, plan: inout StepPlan, budget: inout Int) {
        running.removeLast()
        if let index = plan.chunks.firstIndex(where: { $0.sequence === sequence }) {
            budget += plan.chunks[index].count
            plan.chunks.remove(at: index)
        }
        blocks.free(sequence)
        sequence.numComputed = 0
        sequence.preemptions += 1
        sequence.status = .waiting
        // Everything waiting arrived after every running sequence: the head keeps FCFS order.
        waiting.insert(sequence, at: 0)
        plan.preempted.append(sequence)
        preemptionCount += 1
    }

    private mutating func admit(plan: inout StepPlan, budget: inout Int) {
        while budget > 0, running.count < options.maxNumSeqs, let sequence = waiting.first {
            // Alone, a sequence may take every block (it always fits: requests are capped).
            let reserve = running.isEmpty ? 0 : Int(Double(blocks.numBlocks) * options.admissionWatermark)
            guard let admitted = blocks.admit(sequence, budget: budget, keepingFree: reserve) else { break }
            let (cached, count) = admitted
            waiting.removeFirst()
            sequence.numComputed = cached
            sequence.status = .running
            if sequence.cachedPromptTokens == nil {
                sequence.cachedPromptTokens = cached
                prefixQueryTokens += sequence.tokens.count
                prefixHitTokens += cached
            }
            running.append(sequence)
            plan.chunks.append(ScheduledChunk(sequence: sequence, start: cached, count: count))
            budget -= count
        }
    }

    /// Records that the plan's chunks ran: their tokens are now cached, the full blocks they
    /// completed enter the prefix cache, and (sliding window) blocks out of every future
    /// query's sight are given back.
    mutating func completed(_ plan: StepPlan) {
        for chunk in plan.chunks {
            chunk.sequence.numComputed = chunk.start + chunk.count
            blocks.commit(chunk.sequence)
            blocks.releaseOutsideWindow(chunk.sequence)
        }
    }

    /// Removes a finished or aborted sequence wherever it is and frees its blocks.
    mutating func remove(_ sequence: EngineSequence) {
        if let index = running.firstIndex(where: { $0 === sequence }) {
            running.remove(at: index)
        } else if let index = waiting.firstIndex(where: { $0 === sequence }) {
            waiting.remove(at: index)
        }
        blocks.free(sequence)
        sequence.status = .finished
    }

    mutating func resetPrefixCache() { blocks.resetPrefixCache() }
}
