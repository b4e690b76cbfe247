import ArgumentParser

@main
struct Tessera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "An LLM inference engine in Swift, built around context parallelism.",
        version: "0.1.0",
        subcommands: [PullCommand.self, GenerateCommand.self, ChatCommand.self, TokenizeCommand.self, PlanCommand.self, BenchCommand.self, BenchDecodeCommand.self]
    )
}
