import TesseraEngine

/// What one choice has produced so far.
struct ChoiceResult: Sendable {
    var text = ""
    var tokenIDs: [Int] = []
    var logprobs: [TokenLogprob] = []
    var finishReason: RequestFinishReason?
    var metrics: RequestMetrics?

    mutating func add(_ output: RequestOutput) {
        text += output.newText
        tokenIDs += output.newTokenIDs
        logprobs += output.newLogprobs
        if let reason = output.finishReason { finishReason = reason }
        if let metrics = output.metrics { self.metrics = metrics }
    }
}

extension EngineCore {
    /// Submits every choice of `job` as its own engine request (`<requestID>-<choice>`), all or
    /// none, and merges their outputs, tagged with the choice index. Ending the iteration early
    /// aborts the rest.
    func submit(_ job: GenerationJob, requestID: String) throws(APIError) -> MergedStreams {
        let requests = (0..<job.choiceCount).map { choice in
            EngineRequest(id: "\(requestID)-\(choice)", promptIDs: job.prompt(ofChoice: choice), params: job.params(ofChoice: choice))
        }
        do {
            return MergedStreams(try submitAll(requests))
        } catch {
            throw Self.apiError(error.error)
        }
    }

    private static func apiError(_ error: EngineError) -> APIError {
        switch error {
        case .stopped: .shuttingDown
        case .promptTooLong, .emptyPrompt, .invalidTokenID, .invalidParams:
            .invalid(error.description, param: "prompt")
        default: .server(error.description)
        }
    }
}
