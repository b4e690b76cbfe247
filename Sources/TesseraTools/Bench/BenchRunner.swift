import Foundation
import TesseraEngine
import TesseraModels

/// Runs a workload through an engine with at most `concurrency` requests in flight (a new one
/// is sent as soon as one ends, like a client pool) and measures it.
public enum BenchRunner {
    public static func run(_ workload: BenchWorkload, engine: EngineCore, concurrency: Int) async throws -> BenchReport {
        guard concurrency >= 1 else { throw BenchError.invalid("--concurrency=\(concurrency) must be >= 1") }
        let before = engine.stats
        let clock = ContinuousClock()
        let started = clock.now
        let items = workload.items
        let metrics = try await withThrowingTaskGroup(of: [RequestMetrics].self) { group in
            let next = NextIndex()
            for _ in 0..<min(concurrency, items.count) {
                group.addTask {
                    var mine: [RequestMetrics] = []
                    while let index = await next.take(below: items.count) {
                        mine.append(try await runOne(items[index], index: index, engine: engine))
                    }
                    return mine
                }
            }
            var all: [RequestMetrics] = []
            for try await part in group { all += part }
            return all
        }
        let duration = seconds(clock.now - started)
        let after = engine.stats
        let output = metrics.reduce(0) { $0 + $1.generatedTokens }
        let input = metrics.reduce(0) { $0 + $1.promptTokens }
        let queried = after.prefixQueryTokens - before.prefixQueryTokens
        return BenchReport(
            requests: metrics.count, concurrency: concurrency, durationSeconds: duration,
            inputTokens: input, outputTokens: output,
            requestsPerSecond: Double(metrics.count) / duration, outputTokensPerSecond: Double(output) / duration,
            totalTokensPerSecond: Double(input + output) / duration,
            ttft: LatencySummary(metrics.compactMap(\.timeToFirstToken)),
            tpot: LatencySummary(metrics.compactMap(\.timePerOutputToken)),
            e2e: LatencySummary(metrics.map(\.endToEndSeconds)),
            kvBlocksTotal: after.numBlocks, kvBlocksPeak: after.peakBlocksUsed, kvTokensPerBlock: after.tokensPerBlock,
            maxRunningSequences: after.peakRunning, preemptions: after.preemptions - before.preemptions,
            prefixCacheHitRate: queried == 0 ? 0 : Double(after.prefixHitTokens - before.prefixHitTokens) / Double(queried),
            engineSteps: after.steps - before.steps)
    }

    private static func runOne(_ item: BenchWorkload.Item, index: Int, engine: EngineCore) async throws -> RequestMetrics {
        let params = SamplingParams(maxTokens: item.outputLength, ignoreEOS: true)
        let stream = try engine.submit(EngineRequest(id: "bench-\(index)", promptIDs: item.promptIDs, params: params))
        for try await output in stream {
            guard let reason = output.finishReason else { continue }
            guard reason != .abort, let metrics = output.metrics else {
                throw BenchError.requestFailed(index: index, "aborted")
            }
            return metrics
        }
        throw BenchError.requestFailed(index: index, "its stream ended without a final output")
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}

/// Hands out workload indices to the client tasks.
private actor NextIndex {
    private var value = 0

    func take(below count: Int) -> Int? {
        guard value < count else { return nil }
        defer { value += 1 }
        return value
    }
}
