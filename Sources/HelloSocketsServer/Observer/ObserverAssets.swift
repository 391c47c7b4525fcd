/// The start page and its files (Assets/), embedded in the binary.
enum ObserverAssets {
    struct File {
        var contentType: String
        var body: String
    }

    /// The page at `/`, self-contained: CSS, the Phoenix client and the page script inlined (works offline).
    static let startPage: String = pageTemplate
        .replacingOnce("/*CSS*/", with: observerCSS)
        .replacingOnce("/*PHOENIX*/", with: phoenixClientJS)
        .replacingOnce("/*OBSERVER*/", with: observerJS)

    /// The files served on their own paths, e.g. `/js/phoenix-client.js` for examples to load.
    static func file(at path: Substring) -> File? {
        switch path {
        case "/js/phoenix-client.js": return File(contentType: "text/javascript; charset=utf-8", body: phoenixClientJS)
        case "/js/observer.js": return File(contentType: "text/javascript; charset=utf-8", body: observerJS)
        case "/css/observer.css": return File(contentType: "text/css; charset=utf-8", body: observerCSS)
        default: return nil
        }
    }
}

extension String {
    fileprivate func replacingOnce(_ marker: String, with replacement: String) -> String {
        guard let range = range(of: marker) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
