import ArgumentParser
import TesseraEngine
import TesseraTensor

extension WeightFormat: ExpressibleByArgument {}

/// How the weights are held and multiplied: their format in memory, threads, instruction set.
struct KernelOptions: ParsableArguments {
    @Option(help: "stored: linear layers stay in the file's format (Q4_1, Q4_K, f16, ...) and run on the quantised kernels; f32: widened to f32 at load (the exact path).")
    var weights: WeightFormat = .stored

    @Option(help: "Threads for the kernels of this process (default: the CPUs it may use, from its affinity and cgroup quota), shared by the ranks it runs.")
    var threads: Int?

    @Option(help: "Instruction set of the kernels: portable, avx2, avx512 or neon (default: the best this CPU has).")
    var isa: String?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let isa, KernelSettings.ISA(name: isa) == nil {
            throw ValidationError("--isa: unknown instruction set '\(isa)' (portable, avx2, avx512, neon)")
        }
    }

    /// Sets the process-wide kernel choices; call before the model is loaded.
    func apply() throws {
        KernelSettings.threads = threads
        if let threads { BLAS.setThreads(threads) }
        if let isa, let level = KernelSettings.ISA(name: isa), !KernelSettings.select(level) {
            throw ValidationError("--isa \(isa): this CPU does not support it (best: \(KernelSettings.bestISA.name))")
        }
    }

    /// "weights stored, kernels avx512, 2 threads" for the startup line.
    var summary: String {
        "weights \(weights.rawValue), kernels \(KernelSettings.currentISA.name), \(KernelSettings.threads(sharedBy: 1)) thread(s)"
    }
}
