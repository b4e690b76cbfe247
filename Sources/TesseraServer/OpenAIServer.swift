import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TesseraEngine
import TesseraTokenizer

/// An OpenAI-compatible HTTP server over an `EngineCore`:
/// `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/completions`, `POST /v1/chat/completions`
/// (JSON or server-sent events), vLLM's `POST /tokenize` and `POST /detokenize` (under the same
/// API key as /v1), `GET /health`, `GET /metrics` (Prometheus), `GET /version`, and a browser
/// chat page at `GET /` (`ChatPage`, no auth: it holds no data and calls the /v1 endpoints with
/// the key). Connections are kept alive between requests (HTTP/1.1), generation ones included.
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
    ) -> Application<RouterResponder<ServerRequestContext>> {
        let metrics = metrics
        return Application(
            router: router(),
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ConnectionWatch(onOpen: { metrics.recordConnection() })])),
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

    func router() -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.middlewares.add(NotFoundMiddleware())
        let validator = RequestValidator(
            modelName: options.modelName, tokenizer: tokenizer, maxSequenceLength: engine.maxSequenceLength,
            vocabularySize: engine.executor.config.vocabSize)
        let generation = GenerationHandler(
            engine: engine, tokenizer: tokenizer, validator: validator,
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
        v1.get("models") { _, _ in try Self.json(ModelList(data: [self.model])) }
        v1.get("models/**") { _, context in
            // Model ids may hold slashes ("org/name"): the id is everything after models/.
            let id = context.parameters.getCatchAll().joined(separator: "/")
            guard id == self.options.modelName else { throw APIError.modelNotFound(id) }
            return try Self.json(self.model)
        }
        v1.post("completions") { request, context in
            try await generation.completions(request, connection: await context.connectionWatch())
        }
        v1.post("chat/completions") { request, context in
            try await generation.chatCompletions(request, connection: await context.connectionWatch())
        }

        // vLLM serves these outside /v1; they take the same key.
        let tokens = router.group()
        if let key = options.apiKey { tokens.add(middleware: BearerAuthMiddleware(key: key, logger: logger)) }
        tokens.post("tokenize") { request, _ in
            let body = try await generation.collectBody(request)
            let ids = try validator.tokens(RequestDecoding.decode(TokenizeRequest.self, from: body), rawBody: body)
            return try Self.json(TokenizeResponse(count: ids.count, maxModelLen: self.engine.maxSequenceLength, tokens: ids))
        }
        tokens.post("detokenize") { request, _ in
            let body = try await generation.collectBody(request)
            let text = try validator.text(RequestDecoding.decode(DetokenizeRequest.self, from: body))
            return try Self.json(DetokenizeResponse(prompt: text))
        }
        return router
    }

    private var model: ModelList.Model {
        .init(id: options.modelName, created: created, maxModelLen: engine.maxSequenceLength)
    }

    static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try JSONBody.encode(value)))
    }
}
