import Foundation

/// This process's resident memory, for benchmarks that show where KV bytes live.
public enum ResidentMemory {
    /// Resident bytes now (Linux: `/proc/self/statm`); nil where that is not available.
    public static func bytes() -> Int? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return nil
        #endif
    }
}
