import Hummingbird
import NIOCore
import Synchronization

/// Tells a request's handler when its client has gone away, without reading the connection.
///
/// Hummingbird's `consumeWithCancellationOnInboundClose` learns that by iterating the
/// connection's inbound stream of request parts itself, and when the response is done it cancels
/// that iteration: NIO ends an async sequence whose consumer is cancelled, and a request head
/// pipelined meanwhile would be read by that loop and dropped. So the connection could serve no
/// further request, and generation responses had to say `Connection: close`.
///
/// This handler sits in each connection's channel pipeline (after the HTTP codec) and only
/// watches the events going by: the peer closing its side (`inputClosed`: the server allows
/// half-closure, so a client's FIN or close arrives as that) or the channel going inactive. A
/// handler waits for either with `untilClosed`, and the HTTP server keeps reading the connection
/// as usual, so it stays open for the next request (keep-alive). It also counts the connections
/// accepted, for `/metrics`.
final class ConnectionWatch: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    /// HTTP request parts, passed on untouched.
    typealias InboundIn = Any

    private struct State {
        var closed = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    private let onOpen: @Sendable () -> Void

    init(onOpen: @escaping @Sendable () -> Void = {}) { self.onOpen = onOpen }

    func handlerAdded(context: ChannelHandlerContext) { onOpen() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .inputClosed { markClosed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        markClosed()
        context.fireChannelInactive()
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    private func markClosed() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the client has gone away, or when the calling task is cancelled.
    func waitUntilClosed() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.closed || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Runs `operation`, cancelled (and answered with `CancellationError`) if the client goes
    /// away first. The connection is left alone: it serves the next request if the client stays.
    static func untilClosed<Value: Sendable>(
        _ watch: ConnectionWatch?, _ operation: () async throws -> Value
    ) async throws -> Value {
        guard let watch else { return try await operation() }
        return try await withoutActuallyEscaping(operation) { operation in
            let unsafeOperation = UnsafeTransfer(operation)
            return try await withThrowingTaskGroup(of: Value?.self) { group in
                group.addTask {
                    await watch.waitUntilClosed()
                    if Task.isCancelled { return nil }
                    throw CancellationError()
                }
                group.addTask { try await unsafeOperation.value() }
                while let first = try await group.next() {
                    // nil: the watcher, cancelled; it only is once the operation is over.
                    guard let value = first else { continue }
                    group.cancelAll()
                    return value
                }
                throw CancellationError()
            }
        }
    }
}

/// Hands a non-Sendable value (a non-escaping closure made escaping for the duration of a task
/// group that ends before it returns) to a child task.
private struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The request context of the server: Hummingbird's basic one plus the connection's watch.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The `ConnectionWatch` of this request's connection (nil if the pipeline has none).
    func connectionWatch() async -> ConnectionWatch? {
        try? await channel.pipeline.handler(type: ConnectionWatch.self).get()
    }
}
