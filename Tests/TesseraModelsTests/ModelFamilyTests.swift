import Foundation
import Testing
import TestSupport
@testable import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// Model families beyond the first Llama/Qwen3 ones (`scripts/make_fixtures.py --only families`):
/// Llama 3.1+ rope scaling (tiny-llama3: llama3 bands, an end-of-sequence list in
/// generation_config.json, chat_template.jinja), Qwen2 (tiny-qwen2: q/k/v biases, tied) and
/// Mistral (tiny-mistral: a sliding window of 8). Logits of tiny-llama3 and tiny-qwen2 against
/// transformers and over TP/CP ranks run in `TinyModelParityTests` / `TinyModelParallelTests`
/// (the names are in their list); Mistral's window is attention's business (SlidingWindowTests).
@Suite("Model families")
struct ModelFamilyTests {
    static let ggufModels = ["tiny-llama3", "tiny-qwen2"]

    @Test func llama3FolderConfig() throws {
        let files = try ModelFiles.open(Fixtures.url("models/tiny-llama3"))
        let c = files.config
        #expect(c.architecture == .llama)
        #expect(c.ropeScaling == .llama3(Llama3RopeScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                                           originalMaxPositions: 32)))
        #expect(c.yarn == nil && !c.attentionQKVBias && !c.attentionOutputBias && c.slidingWindow == nil)
        // config.json says 2; generation_config.json lists [2, 0]: both end a sequence.
        #expect(c.eosTokenIDs == [2, 0])
    }

    @Test func qwen2AndMistralFolderConfigs() throws {
        let qwen2 = try ModelFiles.open(Fixtures.url("models/tiny-qwen2")).config
        #expect(qwen2.architecture == .qwen2)
        #expect(qwen2.attentionQKVBias && !qwen2.attentionOutputBias)
        #expect(qwen2.tieWordEmbeddings && qwen2.numKVHeads == 1 && qwen2.slidingWindow == nil)
        #expect(qwen2.ropeTheta == 1_000_000 && qwen2.ropeScaling == nil)
        let mistral = try ModelFiles.open(Fixtures.url("models/tiny-mistral")).config
        #expect(mistral.architecture == .llama && mistral.slidingWindow == 8 && mistral.numKVHeads == 2)
    }

    /// Tessera's rotary inverse frequencies equal transformers' (llama3 for the tiny model, Llama
    /// 3.1 8B and 3.2 3B; linear; YaRN as Qwen2.5 ships it and with mscale) bit for bit but for
    /// at most one ulp of pow rounding, and the cos/sin factor equals transformers' attention factor.
    @Test func rotaryFrequenciesMatchTransformers() throws {
        let root = try #require(try Fixtures.json("rope/inverse_frequencies.json") as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        #expect(cases.count == 6)
        for item in cases {
            let label = try #require(item["label"] as? String)
            let json = try JSONSerialization.data(withJSONObject: try #require(item["config"]))
            let config = try ModelConfig(huggingFaceConfigJSON: json, file: label)
            let expected = try #require(item["inverse_frequencies"] as? [Double]).map(Float.init)
            let got = config.rotaryInverseFrequencies
            #expect(got.count == expected.count, "\(label)")
            // Bit for bit, except where torch's vectorised f32 pow (not correctly rounded) and the
            // double pow Tessera rounds to f32 differ by one ulp in the plain frequency (seen at
            // theta 1e6, head_dim 128: one frequency of 64).
            let mismatches = zip(got, expected).filter { $0 != $1 }.count
            let worst = zip(got, expected).map { abs($0 - $1) / $1 }.max() ?? 0
            #expect(worst <= 1.2e-7, "\(label): relative difference \(worst)")
            #expect(mismatches <= 1, "\(label): \(mismatches) of \(expected.count) frequencies differ")
            print("rope \(label): \(expected.count - mismatches) of \(expected.count) frequencies bit-identical, worst relative difference \(worst)")
            let factor = try #require(item["attention_factor"] as? Double)
            #expect(abs((config.yarn?.rotaryScale ?? 1) - factor) <= 1e-12, "\(label)")
            // Llama-family YaRN scales cos/sin only: the softmax scale is the plain one.
            if config.yarn != nil {
                let model = try TransformerModel(config: Self.shrunk(config), weights: DummyWeightSource(config: Self.shrunk(config)))
                #expect(model.softmaxScale == 1 / Float(config.headDim).squareRoot())
            }
        }
    }

    /// The same config cut to a few small layers (keeps rope settings and head size).
    static func shrunk(_ c: ModelConfig) -> ModelConfig {
        var c = c
        c.numLayers = 1
        c.vocabSize = 64
        c.intermediateSize = 32
        return c
    }

    /// The GGUF written as llama.cpp's converter would (llama3: arch llama, permuted q/k rows,
    /// `rope_freqs.weight`; qwen2: arch qwen2, unpermuted, biases, tied) gives the folder's logits.
    @Test(arguments: ggufModels)
    func ggufGivesTheFolderLogits(name: String) throws {
        let folder = try ModelFiles.open(Fixtures.url("models/\(name)"))
        let gguf = try ModelFiles.open(Fixtures.url("gguf/\(name).gguf"))
        #expect(gguf.config.architecture == folder.config.architecture)
        #expect(gguf.config.attentionQKVBias == folder.config.attentionQKVBias)
        #expect(gguf.config.attentionOutputBias == folder.config.attentionOutputBias)
        #expect(gguf.config.tieWordEmbeddings == folder.config.tieWordEmbeddings)
        if name == "tiny-llama3" {
            guard case .frequencyDivisors(let divisors)? = gguf.config.ropeScaling else {
                Issue.record("tiny-llama3.gguf: expected rope_freqs.weight divisors, got \(String(describing: gguf.config.ropeScaling))")
                return
            }
            #expect(divisors.count == 8 && divisors.first == 1 && divisors.last == 8)
            let worst = zip(gguf.config.rotaryInverseFrequencies, folder.config.rotaryInverseFrequencies)
                .map { abs($0 - $1) / $1 }.max() ?? 0
            #expect(worst <= 1e-6, "relative frequency difference \(worst)")
        }
        let worst = try TinyModelParityTests.ggufAgainstFolder(name, folder: folder, gguf: gguf)
        #expect(worst <= 1e-4)
    }

    /// Mistral's GGUF: arch llama with permuted rows, and the window as
    /// `llama.attention.sliding_window` (llama.cpp's converter does not store it for
    /// MistralForCausalLM; the fixture adds it so the file is the same model).
    @Test func mistralGGUFHasTheFolderWeights() throws {
        let folder = try ModelFiles.open(Fixtures.url("models/tiny-mistral"))
        let gguf = try ModelFiles.open(Fixtures.url("gguf/tiny-mistral.gguf"))
        #expect(gguf.config.architecture == .llama && gguf.config.slidingWindow == 8)
        for name in ["model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight", "lm_head.weight"] {
            #expect(try gguf.weights.load(name).data == folder.weights.load(name).data, "\(name)")
        }
    }

    /// tiny-llama3's template is its chat_template.jinja file (tokenizer_config.json has none):
    /// rendered and encoded exactly as transformers' apply_chat_template.
    @Test func chatTemplateFileRendersAsTransformers() throws {
        let files = try ModelFiles.open(Fixtures.url("models/tiny-llama3"))
        let tokenizer = try Tokenizer(tokenizerJSON: try #require(files.tokenizerJSONURL), tokenizerConfig: files.tokenizerConfigURL)
        #expect(tokenizer.hasChatTemplate)
        let root = try #require(try Fixtures.json("tokenizer/tiny_llama3_chat.json") as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        #expect(cases.count >= 7)
        for item in cases {
            let messages = try #require(item["messages"] as? [[String: String]]).map {
                ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "")
            }
            let generationPrompt = try #require(item["add_generation_prompt"] as? Bool)
            let text = try tokenizer.applyChatTemplate(messages, addGenerationPrompt: generationPrompt)
            #expect(text.utf8.elementsEqual(try #require(item["text"] as? String).utf8))
            #expect(try tokenizer.encodeChat(messages, addGenerationPrompt: generationPrompt) == item["ids"] as? [Int])
        }
    }

    // MARK: - config.json keys

    private func config(_ json: String) throws -> ModelConfig {
        try ModelConfig(huggingFaceConfigJSON: Data(json.utf8), file: "config.json")
    }

    private func error(_ json: String) throws -> ModelFileError {
        try #require(throws: ModelFileError.self) { try config(json) }
    }

    static let base = #""vocab_size": 100, "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 131072"#

    /// Llama 3.1's keys in the hub's `rope_scaling` (with a top-level `rope_theta`) and in
    /// transformers 5's `rope_parameters`; missing keys are named.
    @Test func llama3Keys() throws {
        let expected = RopeScaling.llama3(Llama3RopeScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                                            originalMaxPositions: 8192))
        let hub = try config(#"{"model_type": "llama", \#(Self.base), "rope_theta": 500000.0, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}"#)
        #expect(hub.ropeScaling == expected && hub.ropeTheta == 500_000)
        let v5 = try config(#"{"model_type": "llama", \#(Self.base), "rope_parameters": {"rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}"#)
        #expect(v5.ropeScaling == expected && v5.ropeTheta == 500_000)
        // Older configs spell it `type`; a missing original length falls back to max_position_embeddings.
        let old = try config(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "type": "llama3"}}"#)
        #expect(old.ropeScaling == .llama3(Llama3RopeScaling(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 131_072)))
        let missing = try error(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "rope_type": "llama3"}}"#)
        #expect(missing == .missingField(file: "config.json", field: "rope_scaling.low_freq_factor"))
        let bands = try error(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0, "rope_type": "llama3"}}"#)
        #expect(bands.description.contains("rope_scaling") && bands.description.contains("low_freq_factor < high_freq_factor"))
    }

    @Test func qwen2SlidingWindowIsRefusedByName() throws {
        let e = try error(#"{"model_type": "qwen2", \#(Self.base), "sliding_window": 4096, "use_sliding_window": true, "max_window_layers": 1}"#)
        guard case .unsupportedConfig(_, let key, _, let reason) = e else {
            Issue.record("expected unsupportedConfig, got \(e)")
            return
        }
        #expect(key == "use_sliding_window")
        #expect(reason.contains("max_window_layers"))
        // Qwen2.5 ships a window with use_sliding_window false: loads, full attention.
        let shipped = try config(#"{"model_type": "qwen2", \#(Self.base), "sliding_window": 131072, "use_sliding_window": false, "max_window_layers": 28, "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}}"#)
        #expect(shipped.slidingWindow == nil && shipped.attentionQKVBias && shipped.yarn?.factor == 4)
    }

    @Test func dynamicScalingIsRefusedWithTheReason() throws {
        let e = try error(#"{"model_type": "llama", \#(Self.base), "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}"#)
        guard case .unsupportedConfig(_, let key, let value, let reason) = e else {
            Issue.record("expected unsupportedConfig, got \(e)")
            return
        }
        #expect(key == "rope_scaling.rope_type" && value == "dynamic")
        #expect(reason.contains("current sequence length") && reason.contains("KV cache"))
    }

    /// A YaRN `attention_factor` other than the one YaRN derives is refused by name.
    @Test func yarnAttentionFactorOtherThanDerivedIsRefused() throws {
        let e = try error(#"{"model_type": "qwen2", \#(Self.base), "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768, "attention_factor": 1.0}}"#)
        #expect(e.description.contains("rope_scaling.attention_factor"))
        let same = 0.1 * Foundation.log(4.0) + 1
        #expect(try config(#"{"model_type": "qwen2", \#(Self.base), "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768, "attention_factor": \#(same)}}"#).yarn != nil)
    }

    @Test func generationConfigEOSMerges() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-gen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("generation_config.json")
        for (text, ids) in [(#"{"eos_token_id": [128001, 128008, 128009]}"#, [128_001, 128_008, 128_009]),
                            (#"{"eos_token_id": 7}"#, [7]), (#"{"eos_token_id": null}"#, []), ("{}", [])] {
            try Data(text.utf8).write(to: url)
            #expect(try ModelFiles.generationEOS(url) == ids)
        }
        try Data(#"{"eos_token_id": ["x"]}"#.utf8).write(to: url)
        let e = try #require(throws: ModelFileError.self) { try ModelFiles.generationEOS(url) }
        #expect(e.description.contains("eos_token_id"))
    }

    // MARK: - biases

    /// `--load-format dummy` for Qwen2 (q/k/v biases) and a Llama with `attention_bias` (q/k/v/o):
    /// the biases exist, change the output, and split over TP ranks.
    @Test func dummyWeightsWithBiases() throws {
        for json in [#"{"model_type": "qwen2", \#(Self.base), "num_key_value_heads": 2}"#,
                     #"{"model_type": "llama", \#(Self.base), "num_key_value_heads": 2, "attention_bias": true}"#] {
            var c = try config(json)
            c.maxPositionEmbeddings = 64
            let weights = DummyWeightSource(config: c)
            #expect(weights.tensorInfos["model.layers.1.self_attn.k_proj.bias"]?.shape == [c.kvDim])
            #expect((weights.tensorInfos["model.layers.1.self_attn.o_proj.bias"] != nil) == c.attentionOutputBias)
            let tokens = [1, 5, 9, 13, 2, 40, 41]
            let model = try TransformerModel(config: c, weights: weights)
            let logits = try TinyModelParityTests.runner(model, tokens: tokens.count, blockSize: 4).logits(tokens, steps: [4, 2, 1])
            #expect(logits.allSatisfy { $0.allSatisfy(\.isFinite) })
            var unbiased = c
            unbiased.attentionQKVBias = false
            unbiased.attentionOutputBias = false
            let plain = try TransformerModel(config: unbiased, weights: DummyWeightSource(config: unbiased))
            let plainLogits = try TinyModelParityTests.runner(plain, tokens: tokens.count, blockSize: 4).logits(tokens, steps: [7])
            #expect(AttentionTests.maxAbsDiff(logits, plainLogits) > 1e-4)
            // Over 4 ranks (KV heads split 2 ways, then duplicated) the biases follow their rows.
            let scenarios = Scenario.edges(cp: 2, vocab: c.vocabSize, decodeSteps: 4)
            let reference = try ParallelHarness.reference(config: c, weights: weights, scenarios: scenarios)
            for (tp, cp) in [(2, 1), (4, 2)] {
                let worst = try TinyModelParallelTests.check(TinyModelParallelTests.Model(config: c, weights: weights),
                                                             setup: ParallelSetup(tp: tp, cp: cp, interleave: 1, blockSize: 8),
                                                             scenarios: scenarios, reference: reference)
                #expect(worst <= TinyModelParallelTests.tolerance)
            }
        }
    }

    /// Bias tensors the configuration does not expect are still refused by name.
    @Test func unexpectedBiasesAreRefused() throws {
        let c = try config(#"{"model_type": "llama", \#(Self.base)}"#)
        var biased = c
        biased.attentionQKVBias = true
        // Weights with q/k/v biases, for a config that has none.
        let e = try #require(throws: TransformerError.self) {
            _ = try TransformerModel(config: Self.shrunk(c), weights: DummyWeightSource(config: Self.shrunk(biased)))
        }
        #expect("\(e)".contains("model.layers.0.self_attn.k_proj.bias"))
    }
}
