import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TesseraEngine
import TesseraTokenizer

/// An OpenAI-compatible HTTP server over an `EngineCore`:
/// `GET /v1/models`, `POST /v1/completions`, `POST /v1/chat/completions` (JSON or server-sent
/// events), `GET /health`, `GET /metrics` (Prometheus), `GET /version`, and a browser chat page
/// at `GET /` (`ChatPage`, no auth: it holds no data and calls the /v1 endpoints with the key).
public final class OpenAIServer: Sendable {
    public let engine: EngineCore
    public let options: ServerOptions
    let tokenizer: Tokenizer
    let admission: Admission
    let metrics = ServerMetrics()
    let logger: Logger
    private let created = Int(Date().timeIntervalSince1970)

    public init(engine: EngineCore, tokenizer: Tokenizer, options: ServerOptions, logger: Logger) {
        self.engine = engine
        self.tokenizer = tokenizer
        self.options = options
        self.logger = logger
        admission = Admission(limit: engine.options.maxNumSeqs + options.maxQueue)
    }

    /// The HTTP application: routes and auth, without signal handling. `onServerRunning` gets
    /// the bound port (useful with port 0).
    public func application(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<RouterResponder<BasicRequestContext>> {
        Application(
            router: router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "tessera"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until SIGINT or SIGTERM, then drains (see `DrainService`) and returns.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let drain = DrainService(admission: admission, engine: engine, gracePeriod: options.shutdownGracePeriod, logger: logger)
        let app = application(onServerRunning: onServerRunning)
        // The drain service comes last, so it is the first told to shut down.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: drain)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(NotFoundMiddleware())
        let generation = GenerationHandler(
            engine: engine, tokenizer: tokenizer,
            validator: RequestValidator(
                modelName: options.modelName, tokenizer: tokenizer, maxSequenceLength: engine.maxSequenceLength,
                vocabularySize: engine.executor.config.vocabSize),
            admission: admission, metrics: metrics, logger: logger, maxBodyBytes: options.maxBodyBytes, ids: RequestIDs())

        router.get("health") { _, _ -> Response in
            if self.admission.isDraining { throw APIError.shuttingDown }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        router.get("version") { _, _ in try Self.json(["version": TesseraVersion.current]) }
        ChatPage.addRoutes(to: router)
        router.get("metrics") { _, _ -> Response in
            let text = self.metrics.exposition(stats: self.engine.stats, inFlightRequests: self.admission.inFlight)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        let v1 = router.group("v1")
        if let key = options.apiKey { v1.add(middleware: BearerAuthMiddleware(key: key, logger: logger)) }
        v1.get("models") { _, _ in try Self.json(self.modelList()) }
        v1.post("completions") { request, _ in try await generation.completions(request) }
        v1.post("chat/completions") { request, _ in try await generation.chatCompletions(request) }
        return router
    }

    private func modelList() -> ModelList {
        ModelList(data: [.init(id: options.modelName, created: created, maxModelLen: engine.maxSequenceLength)])
    }

    static func json(_ value: some Encodable, closingConnection: Bool = false) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if closingConnection { headers[.connection] = "close" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: try JSONBody.encode(value)))
    }
}
