import Testing
import TesseraModels
@testable import TesseraEngine

/// The bytes rank 0 sends the ranks of other processes: every step comes back as it was sent,
/// and bytes that are not a step are refused, never read past their end.
@Suite struct StepWireTests {
    static let batch = ForwardBatch(
        tokens: [5, 9, 11, 2], positions: [0, 1, 2, 40],
        sequences: [
            SequenceSpan(tokenRange: 0..<3, contextLength: 0, blockTable: [3, 1]),
            SequenceSpan(tokenRange: 3..<4, contextLength: 40, blockTable: [0, 7, 2]),
        ],
        logitIndices: [2, 3])

    @Test func everyStepRoundTrips() throws {
        for work in [RankWork.forward(Self.batch), .task(index: 1, arguments: [7, -9]), .task(index: 0, arguments: [])] {
            #expect(try RankWork.decode(RankWork.encode(work)) == work)
        }
        #expect(try RankWork.decode(RankWork.encode(nil)) == nil)
    }

    @Test func malformedStepsAreRefused() {
        let bytes = RankWork.encode(.forward(Self.batch))
        let broken: [[UInt8]] = [
            Array(bytes.dropLast(8)), Array(bytes.dropLast(3)), [], bytes + bytes.prefix(8), [9, 0, 0, 0, 0, 0, 0, 0],
        ]
        for broken in broken {
            #expect(throws: RunnerError.self) { try RankWork.decode(broken) }
        }
        // A count larger than what follows it.
        var hugeCount = RankWork.encode(.task(index: 0, arguments: [1]))
        hugeCount[16] = 200
        #expect(throws: RunnerError.self) { try RankWork.decode(hugeCount) }
    }

    @Test func blockCountRoundTripsAndRefusesOtherBytes() throws {
        #expect(try BlockCountMessage.decode(BlockCountMessage.encode(69_904)) == 69_904)
        #expect(throws: RunnerError.self) { try BlockCountMessage.decode(BlockCountMessage.encode(-1)) }
        #expect(throws: RunnerError.self) { try BlockCountMessage.decode(RankWork.encode(.task(index: 0, arguments: []))) }
        #expect(throws: RunnerError.self) { try BlockCountMessage.decode([1, 2, 3]) }
    }
}
