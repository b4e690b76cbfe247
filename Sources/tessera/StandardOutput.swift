import Foundation

/// Unbuffered writes to standard output, for streamed text. Never mix with `print` in one
/// stream: `print` is buffered when output is piped, so its text would arrive out of order.
enum StandardOutput {
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
