import Testing
@testable import TesseraEngine

@Suite struct StopStringMatcherTests {
    /// Feeds pieces and returns (everything shown, stopped, final text).
    private func run(_ pieces: [String], stops: [String]) -> (shown: String, stopped: Bool, text: String) {
        var matcher = StopStringMatcher(stops: stops)
        var shown = ""
        for piece in pieces {
            shown += matcher.append(piece)
            if matcher.stopped { break }
        }
        if !matcher.stopped { shown += matcher.finish() }
        return (shown, matcher.stopped, matcher.fullText)
    }

    @Test func noStopsPassesEverythingThrough() {
        let result = run(["Hel", "lo", " wor", "ld"], stops: [])
        #expect(result == ("Hello world", false, "Hello world"))
    }

    @Test func stopSpanningPiecesCutsBeforeIt() {
        let result = run(["The answer", " is 4", "2.\n\nQ", "uestion: next"], stops: ["\n\nQuestion:"])
        #expect(result == ("The answer is 42.", true, "The answer is 42."))
    }

    @Test func partialMatchIsHeldBackThenReleased() {
        var matcher = StopStringMatcher(stops: ["END"])
        #expect(matcher.append("abc E") == "abc ")
        #expect(matcher.append("N") == "")
        #expect(matcher.append("D? no, ENx") == "")
        #expect(matcher.stopped)
        #expect(matcher.fullText == "abc ")

        var other = StopStringMatcher(stops: ["END"])
        #expect(other.append("abc EN") == "abc ")
        #expect(other.append("x") == "ENx")
        #expect(other.finish() == "")
    }

    @Test func earliestOfSeveralStopsWins() {
        let result = run(["one two three"], stops: ["three", "two"])
        #expect(result.text == "one ")
    }

    @Test func comparesBytesNotCanonicalEquivalence() {
        // "é" precomposed vs "e" + combining acute are == as Swift Strings but not the same bytes.
        let result = run(["caf", "e\u{301} au lait"], stops: ["\u{E9}"])
        #expect(!result.stopped)
        #expect(result.text == "cafe\u{301} au lait")
    }

    @Test func stopAtTheVeryStartGivesEmptyText() {
        let result = run(["STOP", "more"], stops: ["STOP"])
        #expect(result == ("", true, ""))
    }
}
