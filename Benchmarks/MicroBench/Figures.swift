import Foundation

/// Repeated timings of one measurement: the median is the figure reported, the spread beside it.
struct Figures {
    private(set) var seconds: [Double] = []

    /// Times `body` on what `prepare` returns (untimed), `runs` times after one untimed run.
    static func measure<Prepared>(
        runs: Int, prepare: () throws -> Prepared, _ body: (Prepared) throws -> Void
    ) rethrows -> Figures {
        try body(prepare())
        var figures = Figures()
        for _ in 0..<runs {
            let prepared = try prepare()
            let start = DispatchTime.now().uptimeNanoseconds
            try body(prepared)
            figures.seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return figures
    }

    var median: Double {
        let sorted = seconds.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// `label`: `amount` `unit`s per run as a rate at the median run, with the slowest and the
    /// fastest run's rates.
    func line(_ label: String, amount: Double, unit: String) -> String {
        let slowest = seconds.max() ?? .nan, fastest = seconds.min() ?? .nan
        return String(
            format: "%@: %.1f %@/s median (runs %.1f to %.1f), %.3f ms per run median, %d runs",
            label, amount / median, unit, amount / slowest, amount / fastest, median * 1e3, seconds.count)
    }
}
