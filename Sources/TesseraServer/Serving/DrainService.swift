import Logging
import ServiceLifecycle
import TesseraEngine

/// Graceful shutdown. Listed after the HTTP server in the service group, it is told first
/// (services stop in reverse order): new requests get 503, in-flight ones may finish within the
/// grace period, then the engine stops, which ends what is left with finish reason `abort`.
/// Only then does the HTTP server stop.
struct DrainService: Service {
    let admission: Admission
    let engine: EngineCore
    let gracePeriod: Duration
    let logger: Logger

    func run() async throws {
        do { try await gracefulShutdown() } catch {
            // Cancelled rather than shut down gracefully: stop at once.
            admission.startDraining()
            engine.shutdown()
            return
        }
        admission.startDraining()
        let inFlight = admission.inFlight
        logger.info("shutting down: \(inFlight) request(s) in flight, up to \(gracePeriod) to finish")
        await waitForInFlight(upTo: gracePeriod)
        let left = admission.inFlight
        engine.shutdown()
        if left > 0 { logger.info("aborted \(left) request(s) still running after \(gracePeriod)") }
        // Let the aborted streams write their last events.
        await waitForInFlight(upTo: .seconds(5))
    }

    /// Until no request is in flight, `limit` has passed, or the task is cancelled.
    private func waitForInFlight(upTo limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while admission.inFlight > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
