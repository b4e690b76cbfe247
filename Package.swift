// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .library(name: "TesseraEngine", targets: ["TesseraEngine"]),
        .library(name: "TesseraModels", targets: ["TesseraModels"]),
        .library(name: "TesseraTokenizer", targets: ["TesseraTokenizer"]),
        .library(name: "TesseraTensor", targets: ["TesseraTensor"]),
        .library(name: "TesseraDistributed", targets: ["TesseraDistributed"]),
        .library(name: "TesseraServer", targets: ["TesseraServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        /// OpenBLAS on Linux (Debian: libopenblas-dev); Accelerate provides cblas on macOS.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        .target(
            name: "TesseraTensor",
            dependencies: [.target(name: "CBLAS", condition: .when(platforms: [.linux]))]
        ),
        .target(name: "TesseraTokenizer"),
        .target(
            name: "TesseraModels",
            dependencies: ["TesseraTensor", "TesseraTokenizer", "TesseraDistributed"]
        ),
        /// Ranks, groups and collectives: the rank grid, KV placement, in-process communicator.
        /// Knows nothing of models: the forward pass (TesseraModels) depends on it, not the reverse.
        .target(name: "TesseraDistributed"),
        .target(
            name: "TesseraEngine",
            dependencies: [
                "TesseraDistributed", "TesseraModels", "TesseraTokenizer", "TesseraTensor",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        /// The OpenAI-compatible HTTP server (`tessera serve`) over an `EngineCore`.
        .target(
            name: "TesseraServer",
            dependencies: [
                "TesseraEngine", "TesseraTokenizer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tessera",
            dependencies: [
                "TesseraEngine", "TesseraModels", "TesseraTokenizer", "TesseraDistributed", "TesseraServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// Fixture paths shared by the test targets.
        .target(name: "TestSupport", dependencies: ["TesseraModels"], path: "Tests/TestSupport"),
        .testTarget(name: "TesseraTensorTests", dependencies: ["TesseraTensor", "TestSupport"]),
        .testTarget(name: "TesseraTokenizerTests", dependencies: ["TesseraTokenizer", "TestSupport"]),
        .testTarget(
            name: "TesseraModelsTests",
            dependencies: ["TesseraModels", "TesseraDistributed", "TesseraTensor", "TesseraTokenizer", "TestSupport"]
        ),
        .testTarget(name: "TesseraDistributedTests", dependencies: ["TesseraDistributed"]),
        .testTarget(
            name: "TesseraEngineTests", dependencies: ["TesseraEngine", "TesseraModels", "TesseraDistributed", "TestSupport"]
        ),
        .testTarget(
            name: "TesseraServerTests",
            dependencies: [
                "TesseraServer", "TesseraEngine", "TesseraModels", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
