import Testing
@testable import TesseraDistributed

@Suite struct MemorySizeTests {
    @Test(arguments: [
        ("13609107456", 13_609_107_456), ("0", 0), ("512B", 512), ("512 b", 512),
        ("4GiB", 4 << 30), ("512MiB", 512 << 20), ("1KiB", 1024), ("2TiB", 2 << 40), ("4gib", 4 << 30),
        ("1.5GB", 1_500_000_000), ("1.5GiB", 1_610_612_736), (" 2 GB ", 2_000_000_000), ("3KB", 3000),
        (".5MiB", 524_288), ("1.MB", 1_000_000), ("0.1KiB", 102), ("12.67GiB", 13_604_308_910),
        ("1.0", 1), ("7.000B", 7),
    ])
    func parses(_ text: String, _ bytes: Int) throws {
        #expect(try MemorySize.parse(text) == bytes)
    }

    @Test func errorsQuoteTheText() {
        func message(_ text: String) -> String? {
            do { _ = try MemorySize.parse(text); return nil } catch { return error.description }
        }
        #expect(message("2G")
            == "ambiguous memory size \"2G\": unit \"G\" could mean powers of 1024 or 1000; write \"2GiB\" (2147483648 bytes) or \"2GB\" (2000000000 bytes)")
        #expect(message("1.5m")?.hasPrefix("ambiguous memory size \"1.5m\": unit \"M\"") == true)
        #expect(message("4 GiBs")
            == "invalid memory size \"4 GiBs\": unknown unit \"GiBs\"; expected a number of bytes, optionally with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)")
        #expect(message("")?.hasPrefix("invalid memory size \"\": expected") == true)
        #expect(message("GiB")?.hasPrefix("invalid memory size \"GiB\": expected") == true)
        #expect(message("-1GiB")?.hasPrefix("invalid memory size \"-1GiB\"") == true)
        #expect(message("1.2.3GB")?.hasPrefix("invalid memory size \"1.2.3GB\": expected") == true)
        #expect(message(".") != nil)
        #expect(message("1.5") == "invalid memory size \"1.5\": a byte count must be a whole number (add a unit, e.g. KiB, for fractions)")
        #expect(message("99999999999TiB") == "memory size \"99999999999TiB\" is too large")
        #expect(message("99999999999999999999") == "memory size \"99999999999999999999\" is too large")
    }

    @Test func formatsInBinaryUnits() {
        #expect(MemorySize.format(512) == "512 B")
        #expect(MemorySize.format(1536) == "1.50 KiB")
        #expect(MemorySize.format(13_609_107_456) == "12.67 GiB")
        #expect(MemorySize.format(3 << 40) == "3.00 TiB")
    }
}
