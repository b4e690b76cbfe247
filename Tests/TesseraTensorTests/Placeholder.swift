import Testing
@testable import TesseraTensor
