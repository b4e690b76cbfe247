import CTesseraKernels
import Synchronization

/// Process-wide choices for the C kernels: how many threads a rank's pool gets and which
/// instruction set runs. Set before models are built (the CLI's `--threads`, `--isa`).
package enum KernelSettings {
    private static let threadOverride = Mutex<Int?>(nil)

    /// Threads per process for the kernels (nil: the CPUs this process may use).
    package static var threads: Int? {
        get { threadOverride.withLock { $0 } }
        set { threadOverride.withLock { $0 = newValue.map { max(1, $0) } } }
    }

    /// A rank's share of the threads when `ranks` ranks share this process's CPUs.
    package static func threads(sharedBy ranks: Int) -> Int {
        max(1, (threads ?? Int(tk_available_cpus())) / max(1, ranks))
    }

    /// Instruction-set levels, as the kernels name them.
    package enum ISA: Int32, CaseIterable, Sendable {
        case portable = 0, avx2 = 1, avx512 = 2, neon = 3

        package var name: String { String(cString: tk_isa_name(rawValue)) }

        package init?(name: String) {
            guard let level = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = level
        }
    }

    /// The best level this CPU supports.
    package static var bestISA: ISA { ISA(rawValue: tk_isa_best()) ?? .portable }

    /// The level in use.
    package static var currentISA: ISA { ISA(rawValue: tk_isa_current()) ?? .portable }

    /// Uses `level`'s kernels from now on; false (nothing changed) when the CPU lacks it.
    @discardableResult
    package static func select(_ level: ISA) -> Bool { tk_isa_select(level.rawValue) == 0 }
}
