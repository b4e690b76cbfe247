import Foundation
import Testing
@testable import TesseraDistributed

/// Prints (does not assert) the time of one small all-reduce round, the cost every
/// tensor-parallel layer pays twice per token in decode. Numbers from a debug build, with
/// other tests possibly running at the same time, are upper bounds.
@Suite(.serialized) struct LatencyTests {
    @Test(arguments: [2, 8])
    func smallAllReduceRound(size: Int) {
        for count in [16, 1024] {
            let rounds = size > 2 ? 1000 : 4000
            let result = withDeadline(seconds: 120) {
                try RankLauncher.run(size: size) { comm -> Double in
                    var values = [Float](repeating: 1, count: count)
                    for _ in 0..<50 { try comm.allReduce(&values) }  // warm up
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<rounds {
                        try values.withUnsafeMutableBufferPointer { try comm.allReduce($0) }
                    }
                    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds)
                }
            }
            guard case .success(let nanoseconds)? = result else {
                Issue.record("latency run failed or timed out: \(String(describing: result))")
                return
            }
            let microseconds = nanoseconds.max()! / 1000
            print("all-reduce of \(count) floats over \(size) ranks on \(ProcessInfo.processInfo.activeProcessorCount) cores: "
                  + String(format: "%.1f", microseconds) + " µs per round")
        }
    }
}
