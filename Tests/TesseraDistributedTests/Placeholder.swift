import Testing
@testable import TesseraDistributed
