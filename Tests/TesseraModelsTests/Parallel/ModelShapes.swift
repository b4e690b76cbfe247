import Foundation
import TesseraModels

/// Qwen3-0.6B's shape with one KV head (examples/qwen3-0.6b-1kv/config.json), built by hand.
let qwen3OneKV = ModelConfig(
    architecture: .qwen3, vocabSize: 151_936, hiddenSize: 1024, intermediateSize: 3072,
    numLayers: 28, numHeads: 16, numKVHeads: 1, headDim: 128, ropeTheta: 1_000_000,
    rmsNormEps: 1e-6, maxPositionEmbeddings: 40960, tieWordEmbeddings: true,
    bosTokenID: 151_643, eosTokenIDs: [151_645])

/// The repository's `examples` folder.
let examplesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Parallel
    .deletingLastPathComponent()  // TesseraModelsTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // package root
    .appendingPathComponent("examples", isDirectory: true)
