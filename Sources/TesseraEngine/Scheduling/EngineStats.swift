/// A snapshot of the engine's counters, taken after every step.
public struct EngineStats: Sendable, Equatable {
    public init() {}

    /// Physical blocks per rank (each a logical block of `tokensPerBlock` tokens on the group).
    public var numBlocks = 0
    public var tokensPerBlock = 0
    /// Blocks referenced by live sequences now, and the most ever at once.
    public var blocksUsed = 0
    public var peakBlocksUsed = 0
    /// Blocks holding prefix-cache content (in use or free).
    public var cachedBlocks = 0
    public var evictions = 0
    public var running = 0
    public var waiting = 0
    /// Most sequences running (admitted, holding blocks) after a step was planned.
    public var peakRunning = 0
    public var preemptions = 0
    public var prefixQueryTokens = 0
    public var prefixHitTokens = 0
    public var steps = 0
    /// Tokens run through the model, over all steps, and the most in one step.
    public var batchedTokens = 0
    public var peakStepTokens = 0

    /// Share of looked-up prompt tokens that the prefix cache supplied.
    public var prefixHitRate: Double { prefixQueryTokens == 0 ? 0 : Double(prefixHitTokens) / Double(prefixQueryTokens) }
}
