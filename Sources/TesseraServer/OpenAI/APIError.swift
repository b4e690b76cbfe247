import HTTPTypes
import Hummingbird

/// An error as the OpenAI API reports it: an HTTP status and
/// `{"error": {"message", "type", "param", "code"}}`, where `param` names the offending field.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// 400: the request is wrong; `param` names the field.
    public static func invalid(_ message: String, param: String?, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func unknownModel(_ name: String, served: String) -> APIError {
        .invalid("The model '\(name)' does not exist; this server serves '\(served)'.", param: "model", code: "model_not_found")
    }

    /// 404 for `GET /v1/models/{id}` with an id this server does not serve, as OpenAI answers.
    public static func modelNotFound(_ id: String) -> APIError {
        APIError(status: .notFound, message: "The model '\(id)' does not exist.", type: "invalid_request_error",
                 param: "model", code: "model_not_found")
    }

    public static let unauthorized = APIError(
        status: .unauthorized, message: "Missing or invalid API key: send 'Authorization: Bearer <key>'.",
        type: "authentication_error", code: "invalid_api_key")

    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body is larger than the limit of \(limit) bytes.",
                 type: "invalid_request_error", code: "body_too_large")
    }

    public static func queueFull(limit: Int) -> APIError {
        APIError(status: .tooManyRequests,
                 message: "The server is at capacity (\(limit) requests in flight or queued); retry later.",
                 type: "rate_limit_error", code: "queue_full")
    }

    public static let shuttingDown = APIError(
        status: .serviceUnavailable, message: "The server is shutting down.", type: "server_error", code: "shutting_down")

    public static func notFound(_ path: String) -> APIError {
        APIError(status: .notFound, message: "No route for \(path).", type: "invalid_request_error", code: "not_found")
    }

    public static func server(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error")
    }
}

extension APIError: HTTPResponseError {
    private struct Body: Encodable {
        struct Detail: Encodable {
            let message: String
            let type: String
            @NullWhenNil var param: String?
            @NullWhenNil var code: String?
        }
        let error: Detail
    }

    public var jsonBody: ByteBuffer {
        let body = Body(error: .init(message: message, type: type, param: param, code: code))
        return (try? JSONBody.encode(body)) ?? ByteBuffer(string: #"{"error":{}}"#)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .tooManyRequests || status == .serviceUnavailable { headers[.retryAfter] = "1" }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: jsonBody))
    }
}
