public enum TesseraEngineVersion { public static let string = "0.1.0" }
