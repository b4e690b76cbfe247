import Metrics
import Prometheus
import Synchronization
import TesseraEngine

/// The server's Prometheus metrics, recorded through swift-metrics with a factory of its own
/// (no process-wide bootstrap, so several servers, e.g. in tests, keep separate registries).
///
/// Engine gauges (running, waiting, KV use) and the engine's cumulative counters (prefix-cache
/// lookups, preemptions) are brought up to date from `EngineStats` each time `/metrics` is read.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private let running: Metrics.Gauge
    private let waiting: Metrics.Gauge
    private let kvBlocksUsed: Metrics.Gauge
    private let kvBlocksTotal: Metrics.Gauge
    private let kvUsage: Metrics.Gauge
    private let inFlight: Metrics.Gauge
    private let prefixQueries: Metrics.Counter
    private let prefixHits: Metrics.Counter
    private let preemptions: Metrics.Counter
    private let promptTokens: Metrics.Counter
    private let generationTokens: Metrics.Counter
    private let timeToFirstToken: Metrics.Timer
    private let timePerOutputToken: Metrics.Timer
    private let latency: Metrics.Timer
    private let connections: Metrics.Counter
    private let factory: PrometheusMetricsFactory
    /// The engine's cumulative counters as last published, to turn them into increments.
    private let published = Mutex(EngineStats())

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let fine: [Duration] = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5].map(Self.seconds)
        let coarse: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160].map(Self.seconds)
        factory.durationHistogramBuckets = [
            "tessera_time_to_first_token_seconds": coarse,
            "tessera_time_per_output_token_seconds": fine,
            "tessera_e2e_request_latency_seconds": coarse,
        ]
        self.factory = factory
        running = Metrics.Gauge(label: "tessera_num_requests_running", factory: factory)
        waiting = Metrics.Gauge(label: "tessera_num_requests_waiting", factory: factory)
        kvBlocksUsed = Metrics.Gauge(label: "tessera_kv_cache_blocks_used", factory: factory)
        kvBlocksTotal = Metrics.Gauge(label: "tessera_kv_cache_blocks_total", factory: factory)
        kvUsage = Metrics.Gauge(label: "tessera_kv_cache_usage_ratio", factory: factory)
        inFlight = Metrics.Gauge(label: "tessera_http_requests_in_flight", factory: factory)
        prefixQueries = Metrics.Counter(label: "tessera_prefix_cache_queries_tokens_total", factory: factory)
        prefixHits = Metrics.Counter(label: "tessera_prefix_cache_hits_tokens_total", factory: factory)
        preemptions = Metrics.Counter(label: "tessera_num_preemptions_total", factory: factory)
        promptTokens = Metrics.Counter(label: "tessera_prompt_tokens_total", factory: factory)
        generationTokens = Metrics.Counter(label: "tessera_generation_tokens_total", factory: factory)
        timeToFirstToken = Metrics.Timer(label: "tessera_time_to_first_token_seconds", factory: factory)
        timePerOutputToken = Metrics.Timer(label: "tessera_time_per_output_token_seconds", factory: factory)
        latency = Metrics.Timer(label: "tessera_e2e_request_latency_seconds", factory: factory)
        connections = Metrics.Counter(label: "tessera_http_connections_total", factory: factory)
    }

    /// One TCP connection was accepted (keep-alive serves many requests on one).
    func recordConnection() { connections.increment() }

    private static func seconds(_ value: Double) -> Duration { .nanoseconds(Int64(value * 1e9)) }

    /// One engine request (one choice) ended.
    func record(_ metrics: RequestMetrics, reason: RequestFinishReason) {
        finishedRequests(reason.rawValue).increment()
        promptTokens.increment(by: metrics.promptTokens)
        generationTokens.increment(by: metrics.generatedTokens)
        if let ttft = metrics.timeToFirstToken { timeToFirstToken.recordNanoseconds(Int64(ttft * 1e9)) }
        if let tpot = metrics.timePerOutputToken { timePerOutputToken.recordNanoseconds(Int64(tpot * 1e9)) }
        latency.recordNanoseconds(Int64(metrics.endToEndSeconds * 1e9))
    }

    /// One engine request was aborted because its client went away.
    func recordAbortedChoice() {
        finishedRequests(RequestFinishReason.abort.rawValue).increment()
    }

    private func finishedRequests(_ reason: String) -> Metrics.Counter {
        Metrics.Counter(label: "tessera_request_finished_total", dimensions: [("finished_reason", reason)], factory: factory)
    }

    /// One HTTP response was sent (or its stream ended) with `status`.
    func recordResponse(endpoint: String, status: Int) {
        Metrics.Counter(label: "tessera_http_responses_total", dimensions: [("endpoint", endpoint), ("status", String(status))],
                factory: factory).increment()
    }

    /// The Prometheus text exposition, with the engine's figures as of `stats`.
    func exposition(stats: EngineStats, inFlightRequests: Int) -> String {
        running.record(stats.running)
        waiting.record(stats.waiting)
        kvBlocksUsed.record(stats.blocksUsed)
        kvBlocksTotal.record(stats.numBlocks)
        kvUsage.record(stats.numBlocks == 0 ? 0 : Double(stats.blocksUsed) / Double(stats.numBlocks))
        inFlight.record(inFlightRequests)
        published.withLock { last in
            prefixQueries.increment(by: max(0, stats.prefixQueryTokens - last.prefixQueryTokens))
            prefixHits.increment(by: max(0, stats.prefixHitTokens - last.prefixHitTokens))
            preemptions.increment(by: max(0, stats.preemptions - last.preemptions))
            last = stats
        }
        return registry.emitToString()
    }
}
