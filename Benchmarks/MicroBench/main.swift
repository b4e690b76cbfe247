import Foundation
import TesseraModels

/// `tessera-microbench [forward|encode|all] [--runs N] [--model PATH]`: timings of single
/// components on the default model (SmolLM2, `make model`), each the median of N runs (5 by
/// default) after one untimed run. Not tests: nothing is asserted; `make bench-micro` runs it.
/// Build in release: unoptimised numeric code is many times slower.

enum MicroBenchError: Error, CustomStringConvertible {
    case usage(String)
    case noTokenizer(String)

    var description: String {
        switch self {
        case .usage(let detail):
            "\(detail)\nusage: tessera-microbench [forward|encode|all] [--runs N] [--model PATH]"
        case .noTokenizer(let path): "\(path) carries no tokenizer"
        }
    }
}

func main() throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    var runs = 5
    var model = ModelStore().defaultModelPath
    var which = "all"
    while !arguments.isEmpty {
        let argument = arguments.removeFirst()
        switch argument {
        case "--runs":
            guard let value = arguments.first.flatMap(Int.init), value > 0 else { throw MicroBenchError.usage("--runs takes a positive count") }
            runs = value
            arguments.removeFirst()
        case "--model":
            guard let path = arguments.first else { throw MicroBenchError.usage("--model takes a path") }
            model = URL(fileURLWithPath: path)
            arguments.removeFirst()
        case "forward", "encode", "all":
            which = argument
        default:
            throw MicroBenchError.usage("unknown argument \(argument)")
        }
    }
    if which != "encode" { try ForwardSpeed.run(model: model, runs: runs) }
    if which != "forward" { try EncodeSpeed.run(model: model, runs: runs) }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("tessera-microbench: \(error)\n".utf8))
    exit(1)
}
