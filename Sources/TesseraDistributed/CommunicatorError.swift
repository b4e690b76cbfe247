/// Why a collective failed. After any of these the group is aborted (fail-stop).
public enum CommunicatorError: Error, CustomStringConvertible {
    /// The group was aborted because rank `rank` failed with `cause`; thrown by every pending
    /// and later collective on every rank of the group (and of the groups aborted with it).
    case aborted(rank: Int, cause: any Error)
    /// The ranks did not call the same collective: `calls[i]` is what rank i called in `round`.
    case mismatch(round: Int, calls: [String])
    /// A rank passed buffers or a root that cannot be right, whatever the others do.
    case invalidArgument(rank: Int, message: String)
    /// A value could not be serialized for, or deserialized after, a broadcast.
    case encoding(rank: Int, message: String)

    public var description: String {
        switch self {
        case let .aborted(rank, cause):
            "collective aborted: rank \(rank) failed: \(cause)"
        case let .mismatch(round, calls):
            "collective mismatch in round \(round): "
                + calls.enumerated().map { "rank \($0.offset) called \($0.element)" }.joined(separator: ", ")
        case let .invalidArgument(rank, message):
            "rank \(rank): \(message)"
        case let .encoding(rank, message):
            "rank \(rank): \(message)"
        }
    }
}
