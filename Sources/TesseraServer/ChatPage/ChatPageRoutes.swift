import Hummingbird

/// The browser chat page: `GET /` serves it and `GET /favicon.ico` its icon, both without auth
/// (they hold no data). The page calls the server's own `/v1/chat/completions`, `/v1/models`
/// (with `Authorization: Bearer <key>` when the user gave one) and `/metrics`, and nothing else.
///
/// The page is one HTML document with its CSS and JavaScript inline, kept as a Swift string
/// literal (`ChatPageDocument.html`) rather than a SwiftPM resource: nothing to locate in a
/// resource bundle at run time, so it works from any working directory and from a copied
/// binary, and the server stays one file to ship. The bytes are built once.
enum ChatPage {
    static let html = ByteBuffer(string: ChatPageDocument.html)
    static let icon = ByteBuffer(string: ChatPageDocument.iconSVG)

    /// The page forbids itself any request to another origin: scripts and styles are its own
    /// inline ones, images only `data:` URIs, fetches only this server.
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'unsafe-inline'", "style-src 'unsafe-inline'", "img-src data:",
        "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [
                .contentType: "text/html; charset=utf-8",
                .cacheControl: "no-cache",
                .contentSecurityPolicy: contentSecurityPolicy,
                .xContentTypeOptions: "nosniff",
            ], body: .init(byteBuffer: html))
        }
        router.get("favicon.ico") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "max-age=86400"],
                     body: .init(byteBuffer: icon))
        }
    }
}
