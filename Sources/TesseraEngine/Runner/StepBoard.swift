import Foundation
import TesseraModels
import TesseraTensor

/// Where the scheduling thread posts each step for the rank threads of this process, and where
/// rank 0 posts the result back. A failure on any rank, or shutdown, wakes every waiter:
/// nothing blocks forever.
final class StepBoard: @unchecked Sendable {
    private let condition = NSCondition()
    private let ranks: Int
    private var readyRanks = 0
    private var step = 0
    private var work: RankWork?
    private var result: (step: Int, logits: Tensor)?
    private var failure: (any Error)?
    private var closed = false
    private var stopped = false

    /// - Parameter ranks: rank threads of this process.
    init(ranks: Int) { self.ranks = ranks }

    // MARK: rank side

    /// A rank has loaded its weights and allocated its cache.
    func markReady() {
        update { readyRanks += 1 }
    }

    /// The next step after `seen`, or nil once the board is closed or has failed.
    func nextStep(after seen: Int) -> (step: Int, work: RankWork)? {
        condition.withLock {
            while step == seen && !closed && failure == nil { condition.wait() }
            guard !closed, failure == nil, let work else { return nil }
            return (step, work)
        }
    }

    func deliver(step: Int, logits: Tensor) {
        update { result = (step, logits) }
    }

    /// Records the first failure and wakes everyone.
    func fail(_ error: any Error) {
        update { if failure == nil { failure = error } }
    }

    /// Every rank thread of this process has ended.
    func markStopped() {
        update { stopped = true }
    }

    // MARK: scheduler side

    /// Waits until every rank is ready; throws the failure that stopped one of them.
    func waitUntilReady() throws {
        try condition.withLock {
            while readyRanks < ranks && failure == nil { condition.wait() }
            if let failure { throw failure }
        }
    }

    /// Posts `work` to every rank and waits for rank 0's result.
    func run(_ work: RankWork) throws -> Tensor {
        try condition.withLock {
            if let failure { throw failure }
            guard !closed else { throw RunnerError.closed }
            step += 1
            self.work = work
            let posted = step
            condition.broadcast()
            while result?.step != posted && failure == nil { condition.wait() }
            if let failure { throw failure }
            self.work = nil
            return result!.logits
        }
    }

    func close() {
        update { closed = true }
    }

    /// Waits until every rank thread has ended; throws the failure that ended them, if any.
    func waitUntilStopped() throws {
        try condition.withLock {
            while !stopped { condition.wait() }
            if let failure { throw failure }
        }
    }

    /// Changes the state under the lock and wakes every waiter to look at it.
    private func update(_ change: () -> Void) {
        condition.withLock {
            change()
            condition.broadcast()
        }
    }
}

public enum RunnerError: Error, CustomStringConvertible {
    case closed
    case malformedStep(String)

    public var description: String {
        switch self {
        case .closed: "the model runner was shut down"
        case .malformedStep(let detail): "malformed step message from rank 0: \(detail)"
        }
    }
}
