import ArgumentParser
import TesseraEngine

@main
struct Tessera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "An LLM inference engine in Swift, built around context parallelism.",
        version: TesseraVersion.current,
        subcommands: [PullCommand.self, GenerateCommand.self, ChatCommand.self, ServeCommand.self, TokenizeCommand.self, PlanCommand.self, BenchCommand.self, BenchDecodeCommand.self]
    )
}
