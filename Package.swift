// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .library(name: "TesseraEngine", targets: ["TesseraEngine"]),
        .library(name: "TesseraModels", targets: ["TesseraModels"]),
        .library(name: "TesseraTokenizer", targets: ["TesseraTokenizer"]),
        .library(name: "TesseraTensor", targets: ["TesseraTensor"]),
        .library(name: "TesseraDistributed", targets: ["TesseraDistributed"]),
        .library(name: "TesseraServer", targets: ["TesseraServer"]),
        .library(name: "TesseraTools", targets: ["TesseraTools"]),
        .library(name: "TesseraMPI", targets: ["TesseraMPI"]),
    ],
    /// `MPI`: ranks as processes over Open MPI (`TesseraMPI`, and `mpirun` support in `tessera`).
    /// Off by default, so that a library user needs no MPI; `make` builds with it.
    traits: [.trait(name: "MPI", description: "Ranks as processes over Open MPI (needs libopenmpi-dev or open-mpi)")],
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
        /// GGML block formats, their products with activations for each instruction set (chosen
        /// at run time), and the thread pool: C, since only C carries per-function target features.
        .target(name: "CTesseraKernels"),
        .target(
            name: "TesseraTensor",
            dependencies: ["CTesseraKernels", .target(name: "CBLAS", condition: .when(platforms: [.linux]))]
        ),
        .target(name: "TesseraTokenizer"),
        .target(
            name: "TesseraModels",
            dependencies: ["TesseraTensor", "TesseraTokenizer", "TesseraDistributed"]
        ),
        /// Ranks, groups and collectives: the rank grid, KV placement, in-process communicator.
        /// Knows nothing of models: the forward pass (TesseraModels) depends on it, not the reverse.
        .target(name: "TesseraDistributed"),
        /// Open MPI (Debian: libopenmpi-dev; Homebrew: open-mpi), with getters for the handles
        /// Swift cannot import. Only used with the `MPI` trait.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]
        ),
        /// Ranks as processes: the MPI communicator, world and step channel. Empty without the
        /// `MPI` trait.
        .target(
            name: "TesseraMPI",
            dependencies: ["TesseraDistributed", .target(name: "CMPI", condition: .when(traits: ["MPI"]))]
        ),
        .target(
            name: "TesseraEngine",
            dependencies: [
                "TesseraDistributed", "TesseraModels", "TesseraTokenizer", "TesseraTensor",
            ]
        ),
        /// What is not the engine: the default model's puller (pip + unzip) and the benchmarks.
        .target(
            name: "TesseraTools",
            dependencies: [
                "TesseraEngine", "TesseraModels", "TesseraDistributed",
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
                "TesseraEngine", "TesseraModels", "TesseraTokenizer", "TesseraDistributed", "TesseraServer", "TesseraTools",
                .target(name: "TesseraMPI", condition: .when(traits: ["MPI"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// `mpirun -np N tessera-mpi-check`: the MPI communicator against the in-process one.
        .executableTarget(
            name: "tessera-mpi-check",
            dependencies: ["TesseraDistributed", .target(name: "TesseraMPI", condition: .when(traits: ["MPI"]))],
            path: "Tests/MPICollectiveCheck"
        ),
        /// `tessera-microbench` (`make bench-micro`): timings of single components (forward pass,
        /// tokenizer), outside `make test` since they assert nothing.
        .executableTarget(
            name: "tessera-microbench",
            dependencies: ["TesseraModels", "TesseraTokenizer"],
            path: "Benchmarks/MicroBench"
        ),
        /// Fixture paths shared by the test targets.
        .target(name: "TestSupport", dependencies: ["TesseraModels"], path: "Tests/TestSupport"),
        .testTarget(name: "TesseraTensorTests", dependencies: ["TesseraTensor", "CTesseraKernels", "TestSupport"]),
        .testTarget(name: "TesseraTokenizerTests", dependencies: ["TesseraTokenizer", "TestSupport"]),
        .testTarget(
            name: "TesseraModelsTests",
            dependencies: ["TesseraModels", "TesseraDistributed", "TesseraTensor", "TesseraTokenizer", "TestSupport"]
        ),
        .testTarget(name: "TesseraDistributedTests", dependencies: ["TesseraDistributed"]),
        .testTarget(
            name: "TesseraEngineTests", dependencies: ["TesseraEngine", "TesseraModels", "TesseraDistributed", "TestSupport"]
        ),
        .testTarget(name: "TesseraToolsTests", dependencies: ["TesseraTools", "TesseraEngine", "TesseraModels", "TestSupport"]),
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
