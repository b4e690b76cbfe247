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

/// The merged outputs of a request's choices, tagged with the choice index; `cancel()` aborts them all.
typealias ChoiceStream = MergedStreams

extension EngineCore {

    /// Submits every choice of `job` as its own engine request (`<requestID>-<choice>`) and
    /// merges their outputs, tagged with the choice index. All or nothing: a refused choice
    /// aborts the ones already submitted. Ending the iteration early aborts the rest.
    func submit(_ job: GenerationJob, requestID: String) throws(APIError) -> ChoiceStream {
        var streams: [EngineCore.Stream] = []
        for choice in 0..<job.choiceCount {
            let request = EngineRequest(
                id: "\(requestID)-\(choice)", promptIDs: job.prompt(ofChoice: choice), params: job.params(ofChoice: choice))
            do {
                streams.append(try submit(request))
            } catch {
                for earlier in 0..<choice { abort("\(requestID)-\(earlier)") }
                throw Self.apiError(error)
            }
        }
        return MergedStreams(streams)
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
