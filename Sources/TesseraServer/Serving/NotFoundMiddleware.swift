import Hummingbird

/// Answers unknown routes with an OpenAI-style error body instead of an empty 404.
struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            throw APIError.notFound("\(request.method) \(request.uri.path)")
        }
    }
}
