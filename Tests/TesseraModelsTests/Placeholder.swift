import Testing
@testable import TesseraModels
