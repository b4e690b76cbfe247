/// Collective communication among the ranks of one group (placeholder; being built).
public protocol Communicator: Sendable {
    var rank: Int { get }
    var size: Int { get }
}
