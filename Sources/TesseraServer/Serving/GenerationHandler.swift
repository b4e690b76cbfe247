import Foundation
import Hummingbird
import Logging
import TesseraEngine
import TesseraTokenizer

/// Serves `/v1/completions` and `/v1/chat/completions`: read and validate the body, reserve
/// room, submit every choice to the engine, then answer as one JSON body or as server-sent
/// events. A client that goes away has its requests aborted (their KV blocks freed).
///
/// The client going away is seen by the connection's `ConnectionWatch`, which leaves the
/// connection's reading to the HTTP server: the connection stays open for the client's next
/// request (keep-alive). Hummingbird's `consumeWithCancellationOnInboundClose` would have used
/// the connection up (see `ConnectionWatch`).
struct GenerationHandler: Sendable {
    let engine: EngineCore
    let tokenizer: Tokenizer
    let validator: RequestValidator
    let admission: Admission
    let metrics: ServerMetrics
    let logger: Logger
    let maxBodyBytes: Int
    let ids: RequestIDs

    func completions(_ request: Request, connection: ConnectionWatch?) async throws -> Response {
        try await handle(request, connection: connection, endpoint: "/v1/completions", prefix: "cmpl") { body throws(APIError) in
            try validator.job(RequestDecoding.decode(RequestBody<CompletionRequest>.self, from: body), rawBody: body)
        }
    }

    func chatCompletions(_ request: Request, connection: ConnectionWatch?) async throws -> Response {
        try await handle(request, connection: connection, endpoint: "/v1/chat/completions", prefix: "chatcmpl") { body throws(APIError) in
            try validator.job(RequestDecoding.decode(RequestBody<ChatCompletionRequest>.self, from: body), rawBody: body)
        }
    }

    private func handle(
        _ request: Request, connection: ConnectionWatch?, endpoint: String, prefix: String,
        parse: (Data) throws(APIError) -> GenerationJob
    ) async throws -> Response {
        let id = ids.next(prefix)
        let log = RequestLog(id: id, endpoint: endpoint, started: .now, logger: logger, metrics: metrics)
        do {
            let body = try await collectBody(request)
            let job = try parse(body)
            if job.choiceCount > admission.limit {
                throw APIError.invalid(
                    "This request asks for \(job.choiceCount) completions (prompts x n); the server takes at most \(admission.limit) at once.",
                    param: "n")
            }
            try admission.enter(job.choiceCount)
            let stream: MergedStreams
            do { stream = try engine.submit(job, requestID: id) } catch {
                admission.leave(job.choiceCount)
                throw error
            }
            let lease = RequestLease(admission: admission, choices: job.choiceCount, stream: stream)
            let builder = ResponseBuilder(id: id, created: Int(Date().timeIntervalSince1970), job: job, tokenizer: tokenizer)
            if job.stream {
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                    body: ResponseBody { writer in
                        defer { withExtendedLifetime(lease) {} }
                        try await streamEvents(stream, job: job, builder: builder, connection: connection, writer: &writer, log: log)
                    })
            }
            defer { withExtendedLifetime(lease) {} }
            let results = try await gatherOrAbort(stream, job: job, connection: connection, log: log)
            log.finished(status: 200, job: job, results: results)
            return switch job.kind {
            case .completion: try OpenAIServer.json(builder.completion(results))
            case .chat: try OpenAIServer.json(builder.chatCompletion(results))
            }
        } catch {
            // A client that went away (cancellation) has been logged already.
            guard let answer = error as? APIError else { throw error }
            log.refused(answer)
            throw answer
        }
    }

    /// The whole body, up to `maxBodyBytes` (else 413).
    func collectBody(_ request: Request) async throws(APIError) -> Data {
        var request = request
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw .bodyTooLarge(limit: maxBodyBytes)
        }
        do {
            return Data(buffer: try await request.collectBody(upTo: maxBodyBytes))
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // HTTPError, or NIOTooManyBytesError when a body without Content-Length (chunked) runs over.
            throw .bodyTooLarge(limit: maxBodyBytes)
        } catch {
            throw .invalid("Could not read the request body: \(error)", param: nil)
        }
    }

    /// Collects every choice; cancelled (and the engine requests aborted) if the client leaves.
    private func gatherOrAbort(
        _ stream: MergedStreams, job: GenerationJob, connection: ConnectionWatch?, log: RequestLog
    ) async throws -> [ChoiceResult] {
        var results = [ChoiceResult](repeating: ChoiceResult(), count: job.choiceCount)
        do {
            try await ConnectionWatch.untilClosed(connection) {
                for try await (choice, output) in stream { record(output, into: &results[choice]) }
            }
        } catch is CancellationError {
            stream.cancel()
            log.ended(early: CancellationError(), job: job, results: results)
            throw CancellationError()
        } catch {
            // The model failed: answered (and logged) as a 500 by the caller.
            stream.cancel()
            throw APIError.server("The model failed: \(error)")
        }
        return results
    }

    /// Adds an engine output to its choice's result; a choice's last output goes to the metrics.
    private func record(_ output: RequestOutput, into result: inout ChoiceResult) {
        result.add(output)
        if let reason = output.finishReason, let finished = output.metrics { metrics.record(finished, reason: reason) }
    }

    private func streamEvents(
        _ stream: MergedStreams, job: GenerationJob, builder: ResponseBuilder, connection: ConnectionWatch?,
        writer: inout any ResponseBodyWriter, log: RequestLog
    ) async throws {
        var results = [ChoiceResult](repeating: ChoiceResult(), count: job.choiceCount)
        do {
            try await ConnectionWatch.untilClosed(connection) {
                if job.kind == .chat {
                    for choice in 0..<job.choiceCount { try await writer.write(ServerSentEvents.data(builder.roleChunk(choice: choice))) }
                } else if job.echoTexts != nil {
                    for choice in 0..<job.choiceCount { try await writer.write(ServerSentEvents.data(builder.echoChunk(choice: choice))) }
                }
                var toolStreams = job.toolParsing.map { ToolCallStreams($0, choices: job.choiceCount) }
                do {
                    for try await (choice, output) in stream {
                        let offset = results[choice].text.count
                        record(output, into: &results[choice])
                        if toolStreams != nil {
                            for chunk in toolStreams!.chunks(output, choice: choice, builder: builder) {
                                try await writer.write(ServerSentEvents.data(chunk))
                            }
                        } else if let chunk = builder.chunk(output, choice: choice, textOffset: offset) {
                            try await writer.write(ServerSentEvents.data(chunk))
                        }
                    }
                } catch let error where !(error is CancellationError) {
                    // The model failed mid-stream: tell the client in the stream, as OpenAI does.
                    try await writer.write(ServerSentEvents.data(APIError.server("The model failed: \(error)").jsonBody))
                }
                if job.includeUsage { try await writer.write(ServerSentEvents.data(builder.usageChunk(results))) }
                try await writer.write(ServerSentEvents.done)
            }
        } catch {
            stream.cancel()
            log.ended(early: error, job: job, results: results)
            throw error
        }
        log.finished(status: 200, job: job, results: results)
        try await writer.finish(nil)
    }
}

/// What a request holds while its response is alive: its admission slots and its engine
/// requests. Released with the response, however it ends (even if its body is never written).
final class RequestLease: Sendable {
    private let admission: Admission
    private let choices: Int
    private let stream: MergedStreams

    init(admission: Admission, choices: Int, stream: MergedStreams) {
        self.admission = admission
        self.choices = choices
        self.stream = stream
    }

    deinit {
        stream.cancel()
        admission.leave(choices)
    }
}
