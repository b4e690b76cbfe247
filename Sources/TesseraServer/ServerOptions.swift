/// How `tessera serve` listens and what it accepts.
public struct ServerOptions: Sendable {
    public var host: String
    public var port: Int
    /// When set, every /v1 request needs `Authorization: Bearer <apiKey>`.
    public var apiKey: String?
    /// The name clients pass as `model`.
    public var modelName: String
    /// Engine requests (choices) allowed to wait beyond the engine's running sequences; more
    /// get 429 at once.
    public var maxQueue: Int
    public var maxBodyBytes: Int
    /// After SIGINT/SIGTERM, how long in-flight requests may run before they are aborted.
    public var shutdownGracePeriod: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 8000, apiKey: String? = nil, modelName: String,
        maxQueue: Int = 256, maxBodyBytes: Int = 4 << 20, shutdownGracePeriod: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.modelName = modelName
        self.maxQueue = maxQueue
        self.maxBodyBytes = maxBodyBytes
        self.shutdownGracePeriod = shutdownGracePeriod
    }
}
