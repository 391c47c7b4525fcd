import NIOCore

/// The start page and its files: real `.html`/`.css`/`.js` files in `Assets/`, compiled into the binary.
///
/// Package.swift declares `Assets/` with SwiftPM's `.embedInCode` rule, which generates `PackageResources`
/// (each file's bytes as a `[UInt8]`) at build time. Chosen over a resource bundle (`Bundle.module`): the
/// binary serves the page from wherever it is copied, with nothing to install beside it, while the files stay
/// files that editors, linters and browser tools understand. Edit them and rebuild.
enum ObserverAssets {
    struct File {
        var contentType: String
        var body: ByteBuffer
    }

    /// The page at `/`: loads the style, our Phoenix client and the page script from the paths below.
    static let startPage = File(contentType: "text/html; charset=utf-8", body: ByteBuffer(bytes: PackageResources.index_html))

    private static let javaScript = "text/javascript; charset=utf-8"
    private static let phoenixClient = File(contentType: javaScript, body: ByteBuffer(bytes: PackageResources.phoenix_client_js))
    private static let observerScript = File(contentType: javaScript, body: ByteBuffer(bytes: PackageResources.observer_js))
    private static let style = File(contentType: "text/css; charset=utf-8", body: ByteBuffer(bytes: PackageResources.observer_css))

    /// The files served on their own paths; `/js/phoenix-client.js` is also for examples' pages to load.
    static func file(at path: Substring) -> File? {
        switch path {
        case "/js/phoenix-client.js": return phoenixClient
        case "/js/observer.js": return observerScript
        case "/css/observer.css": return style
        default: return nil
        }
    }
}
