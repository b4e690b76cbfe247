import Testing
@testable import TesseraEngine
