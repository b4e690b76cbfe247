import Testing
import TesseraModels
import TestSupport

@Suite struct MaxModelLenTests {
    let config: ModelConfig

    init() throws {
        config = try ModelFiles.open(Fixtures.url("models/tiny-llama")).config
    }

    @Test func defaultsToTheModelsMaximum() throws {
        #expect(try config.maxModelLen(requested: nil) == config.maxPositionEmbeddings)
    }

    @Test func takesARequestUpToTheMaximum() throws {
        #expect(try config.maxModelLen(requested: 100) == 100)
        #expect(try config.maxModelLen(requested: config.maxPositionEmbeddings) == config.maxPositionEmbeddings)
    }

    @Test func refusesAboveTheMaximumNamingBoth() {
        let above = config.maxPositionEmbeddings + 1
        #expect(throws: MaxModelLenError.aboveModelMaximum(requested: above, modelMaximum: config.maxPositionEmbeddings)) {
            try config.maxModelLen(requested: above)
        }
        let message = "\(MaxModelLenError.aboveModelMaximum(requested: above, modelMaximum: config.maxPositionEmbeddings))"
        #expect(message.contains("\(above)") && message.contains("\(config.maxPositionEmbeddings)"))
    }

    @Test func refusesZero() {
        #expect(throws: MaxModelLenError.notPositive(0)) { try config.maxModelLen(requested: 0) }
    }
}
