import Testing
@testable import TesseraTokenizer
