import Testing
@testable import TesseraModels

@Suite struct SeededRandomTests {
    @Test func unitFloatsStayInRangeAndSpreadEvenly() {
        var random = SeededRandom(seed: 7)
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<20_000 {
            let u = random.nextUnitFloat()
            #expect(u >= 0 && u < 1)
            buckets[Int(u * 10)] += 1
        }
        for count in buckets { #expect(abs(count - 2000) < 200) }
    }

    @Test func streamDependsOnlyOnTheSeed() {
        var a = SeededRandom(seed: 123)
        var b = SeededRandom(seed: 123)
        var c = SeededRandom(seed: 124)
        let sa = (0..<8).map { _ in a.next() }
        #expect(sa == (0..<8).map { _ in b.next() })
        #expect(sa != (0..<8).map { _ in c.next() })
    }
}
