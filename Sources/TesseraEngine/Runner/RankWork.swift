import TesseraDistributed
import TesseraModels

/// What the ranks do in one step.
enum RankWork: Sendable, Equatable {
    /// A forward pass; rank 0 posts the logits.
    case forward(ForwardBatch)
    /// The runner's per-rank task `index` with `arguments`, on every rank (see ``RankTask``).
    case task(index: Int, arguments: [Int])
}

/// One rank's model and its slice of the KV cache, as a ``RankTask`` sees them.
public struct RankState: Sendable {
    public let rank: RankContext
    public let model: TransformerModel
    public let cache: PagedKVCache
}

/// Work a caller of ``ModelRunner/runOnEveryRank(task:arguments:)`` runs on each rank beside the
/// forward passes (a benchmark filling the cache, say). Given to the runner when it is built, so
/// that every process of a multi-process run has the same tasks and only an index and integer
/// arguments cross between processes.
public typealias RankTask = @Sendable (RankState, [Int]) throws -> Void
