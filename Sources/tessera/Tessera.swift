import ArgumentParser
import Foundation
import TesseraEngine

@main
struct Tessera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "An LLM inference engine in Swift, built around context parallelism.",
        discussion: """
            Under `mpirun -np N` every rank is a process of its own (N must equal --tp); rank 0 \
            prints and serves, the others run the steps it sends them.
            """,
        version: TesseraVersion.current,
        subcommands: [PullCommand.self, GenerateCommand.self, ChatCommand.self, ServeCommand.self, TokenizeCommand.self, PlanCommand.self, BenchCommand.self, BenchDecodeCommand.self]
    )

    /// ArgumentParser's own `main`, plus the `mpirun` job: started before the command, ended
    /// after it, aborted as a whole when a rank's command fails.
    static func main() async {
        do {
            try ProcessRanks.startIfLaunched()
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            ProcessRanks.finish()
        } catch {
            let code = exitCode(for: error).rawValue
            if code != 0 {
                ProcessRanks.abortJobIfLaunched(fullMessage(for: error), code: code)
            }
            ProcessRanks.finish()
            exit(withError: error)
        }
    }
}
