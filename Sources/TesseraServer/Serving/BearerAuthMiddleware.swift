import Hummingbird
import Logging

/// Requires `Authorization: Bearer <key>`; anything else gets 401 with an OpenAI error body.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]
    let logger: Logger

    init(key: String, logger: Logger) {
        self.key = Array("Bearer \(key)".utf8)
        self.logger = logger
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let given = Array((request.headers[.authorization] ?? "").utf8)
        guard Self.constantTimeEqual(given, key) else {
            logger.info("\(request.method) \(request.uri.path) status=401 (missing or wrong API key)")
            throw APIError.unauthorized
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so timing does not leak the key.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
