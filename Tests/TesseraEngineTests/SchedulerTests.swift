import Testing
@testable import TesseraEngine

extension EngineSequence {
    /// A sequence of `prompt` as the engine makes one for a request, with no tokenizer.
    static func make(_ id: String, prompt: [Int], maxNewTokens: Int = 1, arrivalIndex: UInt64 = 0) -> EngineSequence {
        let params = SamplingParams(maxTokens: maxNewTokens, ignoreEOS: true)
        return EngineSequence(request: EngineRequest(id: id, promptIDs: prompt, params: params),
                              arrivalIndex: arrivalIndex, maxNewTokens: maxNewTokens,
                              arrival: ContinuousClock().now)
    }
}

/// The scheduler alone, driven by a fake model that appends a token per sampled sequence.
struct SchedulerSimulation {
    var scheduler: Scheduler
    var finished: [EngineSequence] = []
    /// Sequence ids in the order they were first scheduled.
    var firstScheduled: [String] = []
    var steps = 0
    private var nextArrival: UInt64 = 0

    init(numBlocks: Int, blockSize: Int, cp: Int = 1, options: EngineOptions) {
        scheduler = Scheduler(options: options, numBlocks: numBlocks, blockSize: blockSize, cp: cp)
    }

    @discardableResult
    mutating func add(_ id: String, prompt: [Int], maxNewTokens: Int) -> EngineSequence {
        let sequence = EngineSequence.make(id, prompt: prompt, maxNewTokens: maxNewTokens, arrivalIndex: nextArrival)
        nextArrival += 1
        scheduler.add(sequence)
        return sequence
    }

    /// One step: schedule, "run" it (the next token of a sequence is a function of its length),
    /// finish sequences that reached their length. Returns the plan.
    @discardableResult
    mutating func step() -> StepPlan {
        let plan = scheduler.schedule()
        for chunk in plan.chunks where !firstScheduled.contains(chunk.sequence.id) {
            firstScheduled.append(chunk.sequence.id)
        }
        scheduler.completed(plan)
        for chunk in plan.chunks where chunk.needsLogits {
            let sequence = chunk.sequence
            sequence.append(3 + sequence.tokens.count % 97)
            if sequence.generatedCount >= sequence.maxNewTokens {
                scheduler.remove(sequence)
                finished.append(sequence)
            }
        }
        steps += 1
        return plan
    }

    mutating func runToEnd(limit: Int = 10_000, check: (StepPlan, Scheduler) -> Void = { _, _ in }) {
        while scheduler.hasWork && steps < limit {
            let plan = step()
            check(plan, scheduler)
        }
    }
}

@Suite struct SchedulerTests {
    @Test func budgetAndSequenceCapAreNeverExceeded() {
        let options = EngineOptions(maxNumBatchedTokens: 24, maxNumSeqs: 5)
        var sim = SchedulerSimulation(numBlocks: 40, blockSize: 4, options: options)
        for i in 0..<20 { sim.add("r\(i)", prompt: randomPrompt(1 + (i * 37) % 50, seed: UInt64(i)), maxNewTokens: 1 + i % 9) }
        sim.runToEnd { plan, scheduler in
            #expect(plan.tokenCount <= 24)
            #expect(plan.chunks.count <= 5 && scheduler.running.count <= 5)
            #expect(!plan.chunks.isEmpty)
            #expect(Set(plan.chunks.map(\.sequence.id)).count == plan.chunks.count, "a sequence appears once per step")
        }
        #expect(sim.finished.count == 20)
        #expect(sim.scheduler.blocks.usedCount == 0)
    }

    @Test func admissionIsFirstComeFirstServed() {
        var sim = SchedulerSimulation(numBlocks: 30, blockSize: 4, options: EngineOptions(maxNumBatchedTokens: 16, maxNumSeqs: 3))
        let ids = (0..<12).map { "r\($0)" }
        for (i, id) in ids.enumerated() { sim.add(id, prompt: randomPrompt(3 + (i * 7) % 20, seed: UInt64(i)), maxNewTokens: 4) }
        sim.runToEnd()
        #expect(sim.firstScheduled == ids)
        #expect(sim.finished.count == 12)
    }

    /// While a long prompt is prefilled chunk by chunk, every running decode still gets its
    /// token in every step, and the prompt still gets the rest of the budget.
    @Test func decodesRunFirstAndALongPromptStillProgresses() {
        let budget = 16
        var sim = SchedulerSimulation(numBlocks: 200, blockSize: 4, options: EngineOptions(maxNumBatchedTokens: budget, maxNumSeqs: 8))
        for i in 0..<4 { sim.add("short\(i)", prompt: randomPrompt(3, seed: UInt64(i)), maxNewTokens: 60) }
        sim.step()
        #expect(sim.scheduler.running.count == 4)
        let long = sim.add("long", prompt: randomPrompt(300, seed: 99), maxNewTokens: 2)
        var prefillSteps = 0
        while long.numComputed < 300 {
            let plan = sim.step()
            prefillSteps += 1
            let decodes = plan.chunks.filter { $0.sequence.id.hasPrefix("short") }
            #expect(decodes.count == 4 && decodes.allSatisfy { $0.count == 1 }, "every decode runs while the prompt prefills")
            #expect(plan.tokenCount == budget)
            #expect(plan.chunks.last?.sequence === long)
        }
        #expect(prefillSteps == (300 + (budget - 4) - 1) / (budget - 4))
    }

    /// A long prompt at the head of the queue is not overtaken by the short ones behind it, and
    /// finishes even though short requests keep arriving.
    @Test func aLongPromptIsNotStarved() {
        var sim = SchedulerSimulation(numBlocks: 60, blockSize: 4, options: EngineOptions(maxNumBatchedTokens: 8, maxNumSeqs: 4))
        for i in 0..<3 { sim.add("early\(i)", prompt: randomPrompt(20, seed: UInt64(i)), maxNewTokens: 30) }
        let long = sim.add("long", prompt: randomPrompt(150, seed: 7), maxNewTokens: 3)
        var arrivals = 0
        while !sim.finished.contains(where: { $0 === long }) && sim.steps < 2000 {
            // A new short request every step.
            sim.add("late\(arrivals)", prompt: randomPrompt(5, seed: UInt64(100 + arrivals)), maxNewTokens: 5)
            arrivals += 1
            sim.step()
        }
        #expect(sim.finished.contains { $0 === long }, "the long prompt finished within \(sim.steps) steps")
        let order = sim.firstScheduled
        #expect(order.firstIndex(of: "long")! < order.firstIndex(of: "late0")!)
    }

    /// A cache too small for everyone: the newest running sequence is preempted, goes back to the
    /// head of the queue, and everything still completes with no block leaked. Logical blocks of
    /// 4 tokens: 4 on one rank, or 2 on each of two CP ranks.
    @Test(arguments: [(4, 1), (2, 2)])
    func preemptionRecomputesTheNewestAndLeaksNothing(blockSize: Int, cp: Int) {
        for caching in [true, false] {
            var sim = SchedulerSimulation(numBlocks: 12, blockSize: blockSize, cp: cp,
                                          options: EngineOptions(maxNumBatchedTokens: 32, maxNumSeqs: 8, enablePrefixCaching: caching))
            for i in 0..<8 { sim.add("r\(i)", prompt: randomPrompt(6 + i, seed: UInt64(i)), maxNewTokens: 14) }
            var preempted: [String] = []
            sim.runToEnd { plan, scheduler in
                for victim in plan.preempted {
                    preempted.append(victim.id)
                    #expect(scheduler.running.allSatisfy { $0.arrivalIndex < victim.arrivalIndex },
                            "only the newest running sequence is preempted")
                }
                #expect(scheduler.blocks.usedCount <= 12)
                for chunk in plan.chunks where chunk.sequence.status == .running {
                    #expect(chunk.sequence.blockTable.count == (chunk.start + chunk.count + 3) / 4,
                            "a table holds exactly the logical blocks of 4 tokens its computed tokens need")
                }
            }
            #expect(!preempted.isEmpty)
            #expect(sim.finished.count == 8)
            #expect(sim.finished.allSatisfy { $0.generatedCount == 14 && $0.blockTable.isEmpty })
            #expect(sim.scheduler.blocks.usedCount == 0, "caching \(caching)")
            #expect(sim.scheduler.blocks.freeCount == 12)
        }
    }
}
