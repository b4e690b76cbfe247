import Foundation
import TesseraEngine
import TesseraModels

/// Summary of a latency distribution in seconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var mean: Double
    public var median: Double
    public var p99: Double

    /// Percentiles interpolate linearly between order statistics (numpy's default).
    public init(_ values: [Double]) {
        guard !values.isEmpty else { self.init(mean: 0, median: 0, p99: 0); return }
        let sorted = values.sorted()
        func percentile(_ p: Double) -> Double {
            let rank = p / 100 * Double(sorted.count - 1)
            let low = Int(rank.rounded(.down))
            let high = min(low + 1, sorted.count - 1)
            return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
        }
        self.init(mean: sorted.reduce(0, +) / Double(sorted.count), median: percentile(50), p99: percentile(99))
    }

    public init(mean: Double, median: Double, p99: Double) {
        self.mean = mean
        self.median = median
        self.p99 = p99
    }
}

/// What `tessera bench` prints: throughput, latencies, and how the KV cache was used.
public struct BenchReport: Sendable, Codable, Equatable {
    public var requests: Int
    public var concurrency: Int
    public var durationSeconds: Double
    public var inputTokens: Int
    public var outputTokens: Int
    public var requestsPerSecond: Double
    public var outputTokensPerSecond: Double
    public var totalTokensPerSecond: Double
    /// Time to first token, time per output token after the first, end-to-end latency.
    public var ttft: LatencySummary
    public var tpot: LatencySummary
    public var e2e: LatencySummary
    public var kvBlocksTotal: Int
    public var kvBlocksPeak: Int
    public var kvTokensPerBlock: Int
    public var maxRunningSequences: Int
    public var preemptions: Int
    public var prefixCacheHitRate: Double
    public var engineSteps: Int

    enum CodingKeys: String, CodingKey {
        case requests, concurrency, durationSeconds = "duration_s", inputTokens = "input_tokens",
             outputTokens = "output_tokens", requestsPerSecond = "requests_per_s",
             outputTokensPerSecond = "output_tokens_per_s", totalTokensPerSecond = "total_tokens_per_s",
             ttft = "ttft_s", tpot = "tpot_s", e2e = "e2e_s", kvBlocksTotal = "kv_blocks_total",
             kvBlocksPeak = "kv_blocks_peak", kvTokensPerBlock = "kv_tokens_per_block",
             maxRunningSequences = "max_running_seqs", preemptions, prefixCacheHitRate = "prefix_cache_hit_rate",
             engineSteps = "engine_steps"
    }

    /// Human-readable lines, milliseconds for latencies.
    public var text: String {
        func ms(_ s: LatencySummary) -> String {
            "mean \(format(s.mean * 1000)) ms, median \(format(s.median * 1000)) ms, p99 \(format(s.p99 * 1000)) ms"
        }
        let kvShare = kvBlocksTotal == 0 ? 0 : 100 * Double(kvBlocksPeak) / Double(kvBlocksTotal)
        return """
            requests:            \(requests) at concurrency \(concurrency) in \(format(durationSeconds)) s
            input tokens:        \(inputTokens)
            output tokens:       \(outputTokens)
            requests/s:          \(format(requestsPerSecond))
            output tokens/s:     \(format(outputTokensPerSecond))
            total tokens/s:      \(format(totalTokensPerSecond))
            TTFT:                \(ms(ttft))
            TPOT:                \(ms(tpot))
            end-to-end:          \(ms(e2e))
            KV cache peak:       \(kvBlocksPeak) / \(kvBlocksTotal) blocks (\(format(kvShare))%, \(kvTokensPerBlock) tokens per block)
            max running seqs:    \(maxRunningSequences)
            preemptions:         \(preemptions)
            prefix cache hits:   \(format(100 * prefixCacheHitRate))% of prompt tokens
            engine steps:        \(engineSteps)
            """
    }

    private func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return String(describing: scaled)
    }
}
