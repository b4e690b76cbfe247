import Logging
import TesseraEngine

/// The one log line per request: id, endpoint, status, tokens in and out, latency, finish reasons.
struct RequestLog: Sendable {
    let id: String
    let endpoint: String
    let started: ContinuousClock.Instant
    let logger: Logger
    let metrics: ServerMetrics

    func finished(status: Int, job: GenerationJob, results: [ChoiceResult]) {
        metrics.recordResponse(endpoint: endpoint, status: status)
        let reasons = Set(results.compactMap { $0.finishReason?.rawValue }).sorted().joined(separator: ",")
        logger.info("\(line(status: status, job: job, results: results)) finish=\(reasons)")
    }

    /// Refused with an error answer (4xx, 5xx) before or instead of generating.
    func refused(_ error: APIError) {
        metrics.recordResponse(endpoint: endpoint, status: error.status.code)
        logger.info("\(id) \(endpoint) status=\(error.status.code) error=\"\(error.message)\"")
    }

    /// The client went away (or the stream failed) before the end: its engine requests were aborted.
    func ended(early error: any Error, job: GenerationJob, results: [ChoiceResult]) {
        let unfinished = results.filter { $0.finishReason == nil }.count
        for _ in 0..<unfinished { metrics.recordAbortedChoice() }
        let status = error is CancellationError ? 499 : 500
        metrics.recordResponse(endpoint: endpoint, status: status)
        let why = error is CancellationError ? "client disconnected; aborted" : "failed: \(error)"
        logger.info("\(line(status: status, job: job, results: results)) \(why)")
    }

    private func line(status: Int, job: GenerationJob, results: [ChoiceResult]) -> String {
        let promptTokens = job.prompts.map(\.count).reduce(0, +)
        let completionTokens = results.map(\.tokenIDs.count).reduce(0, +)
        let milliseconds = (ContinuousClock.now - started) / .milliseconds(1)
        return "\(id) \(endpoint) status=\(status) prompt_tokens=\(promptTokens) completion_tokens=\(completionTokens) "
            + "choices=\(job.choiceCount) stream=\(job.stream) latency_ms=\(Int(milliseconds.rounded()))"
    }
}
