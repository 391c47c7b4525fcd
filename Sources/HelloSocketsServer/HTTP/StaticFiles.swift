import Foundation

/// The files of `--public DIR`, served for GET paths no other route claims (an example's page and scripts).
///
/// Safe by construction: the path is percent-decoded and split into segments; `..`, `.`, hidden names
/// (`.git`), backslashes and NUL are refused; the file is then resolved with `realpath`, so a symlink
/// pointing outside DIR is refused too. Only a few types are served (see `contentTypes`); anything
/// else is a 404. Files are small and local, so they are read synchronously (capped at `maxFileSize`).
struct StaticFiles {
    /// The folder, as given.
    let root: String

    static let maxFileSize = 8 << 20

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "png": "image/png",
        "svg": "image/svg+xml",
        "json": "application/json",
    ]

    struct File: Equatable {
        var contentType: String
        var bytes: [UInt8]
    }

    /// The file for a request path such as `/chat.html` or `/css/app.css` (`/dir/` means `/dir/index.html`);
    /// nil when there is none to serve.
    func file(at path: Substring) -> File? {
        guard let relative = Self.relativePath(path),
              let contentType = Self.contentTypes[(relative as NSString).pathExtension.lowercased()],
              let base = Self.realPath(root),
              let resolved = Self.realPath(base + "/" + relative),
              resolved.hasPrefix(base.hasSuffix("/") ? base : base + "/")
        else { return nil }
        var info = stat()
        guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= Self.maxFileSize,
              let data = FileManager.default.contents(atPath: resolved)
        else { return nil }
        return File(contentType: contentType, bytes: [UInt8](data))
    }

    /// The safe relative path for a URL path, or nil if it tries anything odd.
    static func relativePath(_ path: Substring) -> String? {
        guard path.hasPrefix("/"), let decoded = String(path).removingPercentEncoding else { return nil }
        guard !decoded.contains("\0"), !decoded.contains("\\") else { return nil }
        var segments = decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if segments.last == "" { segments[segments.count - 1] = "index.html" }  // "/" or "/dir/"
        guard !segments.isEmpty, segments.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }) else { return nil }
        return segments.joined(separator: "/")
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
