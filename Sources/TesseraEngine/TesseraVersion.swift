/// The version `tessera --version` and the server's `/version` report.
public enum TesseraVersion {
    public static let current = "0.1.0"
}
