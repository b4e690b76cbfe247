import Synchronization

/// Bounds the engine requests in flight (running or queued) and refuses beyond the bound at
/// once, so a burst gets quick 429s instead of an ever-growing queue. Also the drain switch.
final class Admission: Sendable {
    /// Engine requests (choices) allowed in flight: running sequences plus the queue.
    let limit: Int
    private let state = Mutex(State())

    private struct State {
        var inFlight = 0
        var draining = false
    }

    init(limit: Int) { self.limit = limit }

    /// Reserves room for `choices` engine requests; `leave` gives it back.
    func enter(_ choices: Int) throws(APIError) {
        let refusal: APIError? = state.withLock { state in
            if state.draining { return .shuttingDown }
            if state.inFlight + choices > limit { return .queueFull(limit: limit) }
            state.inFlight += choices
            return nil
        }
        if let refusal { throw refusal }
    }

    func leave(_ choices: Int) { state.withLock { $0.inFlight -= choices } }

    var inFlight: Int { state.withLock { $0.inFlight } }
    var isDraining: Bool { state.withLock { $0.draining } }

    /// From now on every request gets 503.
    func startDraining() { state.withLock { $0.draining = true } }
}
