/// Several requests' streams as one (as `EngineCore.submitAll` returns them), each output tagged
/// with the index of its stream, in the order they arrive. Ending the iteration early, or
/// `cancel()`, stops the rest, which aborts their engine requests (their KV blocks are freed).
public struct MergedStreams: AsyncSequence, Sendable {
    public typealias Element = (index: Int, output: RequestOutput)

    private let stream: AsyncThrowingStream<Element, any Error>
    private let task: Task<Void, Never>

    public init(_ streams: [RequestStream]) {
        let (merged, continuation) = AsyncThrowingStream<Element, any Error>.makeStream()
        let task = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, stream) in streams.enumerated() {
                        group.addTask { for try await output in stream { continuation.yield((index, output)) } }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        stream = merged
        self.task = task
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<Element, any Error>.AsyncIterator { stream.makeAsyncIterator() }

    /// Aborts every request still running (a no-op once all have finished).
    public func cancel() { task.cancel() }
}
