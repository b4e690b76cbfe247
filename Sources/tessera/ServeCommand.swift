import ArgumentParser
import Foundation
import Logging
import TesseraEngine
import TesseraModels
import TesseraServer

/// `tessera serve`: the OpenAI-compatible HTTP server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the model over HTTP with the OpenAI API (completions, chat completions, streaming).",
        discussion: """
            Endpoints: GET / (a chat page in the browser), GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true \
            for server-sent events), GET /health, GET /metrics (Prometheus), GET /version. Binds \
            127.0.0.1 unless --host says otherwise. With --api-key (or TESSERA_API_KEY) every /v1 \
            request needs `Authorization: Bearer <key>`. SIGINT or SIGTERM stops taking requests, \
            lets running ones finish for up to --shutdown-timeout seconds, aborts the rest and exits 0. \
            Without --kv-cache-memory the KV cache gets 1GiB per rank.
            """
    )

    @Option(help: "Address to listen on (0.0.0.0: every interface).")
    var host: String = "127.0.0.1"

    @Option(help: "TCP port (0: any free port, printed at startup).")
    var port: Int = 8000

    @Option(help: "Require `Authorization: Bearer <key>` on /v1 requests (default: $TESSERA_API_KEY, if set).")
    var apiKey: String?

    @Option(help: "The model name clients send (default: the model file's or folder's name).")
    var servedModelName: String?

    @Option(help: "Requests allowed to wait beyond --max-num-seqs running ones; more get 429 at once.")
    var maxQueue: Int = 256

    @Option(help: "Largest request body accepted, in bytes (413 beyond).")
    var maxBodyBytes: Int = 4 << 20

    @Option(help: "Seconds in-flight requests may run after SIGINT/SIGTERM before they are aborted.")
    var shutdownTimeout: Double = 30

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engine: EngineFlags

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535 (got \(port))") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be >= 0 (got \(maxQueue))") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024 (got \(maxBodyBytes))") }
        guard shutdownTimeout >= 0, shutdownTimeout.isFinite else {
            throw ValidationError("--shutdown-timeout must be >= 0 seconds (got \(shutdownTimeout))")
        }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "tessera.serve")
        let (opened, setup) = try modelOptions.start(
            defaultBudgetBytes: 1 << 30, report: { logger.info("\($0)") }
        ) { _, maxModelLen in CacheDemand(longestSequence: maxModelLen) }
        let tokenizer = try opened.requireTokenizer()
        let runner = setup.runner
        let llm = try LLM(
            executor: runner, tokenizer: tokenizer, options: engine.options(maxModelLen: setup.maxModelLen),
            onShutdown: { runner.shutdown() })
        defer { llm.shutdown() }
        let name = servedModelName ?? opened.source.deletingPathExtension().lastPathComponent
        let key = apiKey ?? ProcessInfo.processInfo.environment["TESSERA_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let options = ServerOptions(
            host: host, port: port, apiKey: key, modelName: name, maxQueue: maxQueue, maxBodyBytes: maxBodyBytes,
            shutdownGracePeriod: .milliseconds(Int64(shutdownTimeout * 1000)))
        let server = OpenAIServer(engine: llm.engine, tokenizer: tokenizer, options: options, logger: logger)
        let host = host
        try await server.run { port in
            logger.info("serving '\(name)' at http://\(host):\(port)/v1 (max \(llm.engine.maxSequenceLength) tokens per sequence\(key == nil ? "" : ", API key required"))")
        }
        logger.info("stopped")
    }
}
