import Testing
import TesseraModels
@testable import TesseraEngine

/// The penalties read the counts the sampler keeps for its request, which preemption by
/// recompute does not touch: a cache too small still gives an ample cache's outputs.
@Suite struct PenaltyPreemptionTests {
    @Test(arguments: [false, true])
    func penalisedRunsSurvivePreemption(seeded: Bool) async throws {
        let model = try EngineModels.tinyLlama.get()
        var params = SamplingParams(
            maxTokens: 16, ignoreEOS: true, presencePenalty: 0.8, frequencyPenalty: 0.5, repetitionPenalty: 1.4,
            logitBias: [3: 2, 4: -100], minP: 0.02)
        if seeded {
            params.temperature = 1
            params.seed = 21
        }
        let requests = PreemptionTests.requests(params)
        let options = EngineOptions(maxNumBatchedTokens: 24, maxNumSeqs: 10)
        let (ample, _) = try EngineModels.engine(model, numBlocks: 200, options: options)
        let expected = try await runAll(ample, requests)
        ample.shutdown()
        let plain = try await {
            let (engine, _) = try EngineModels.engine(model, numBlocks: 200, options: options)
            defer { engine.shutdown() }
            var unpenalised = params
            (unpenalised.presencePenalty, unpenalised.frequencyPenalty, unpenalised.repetitionPenalty) = (0, 0, 1)
            unpenalised.logitBias = [:]
            return try await runAll(engine, PreemptionTests.requests(unpenalised))
        }()
        #expect(expected.map(\.ids) != plain.map(\.ids), "the penalties change something")
        #expect(expected.allSatisfy { !$0.ids.contains(4) })

        let (small, _) = try EngineModels.engine(model, numBlocks: 16, options: options)
        defer { small.shutdown() }
        let outputs = try await runAll(small, requests)
        #expect(small.stats.preemptions > 0)
        #expect(outputs.map(\.ids) == expected.map(\.ids))
    }
}
