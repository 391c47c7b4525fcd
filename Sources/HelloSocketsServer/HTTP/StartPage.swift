import Foundation

/// The page at `/`: the observer (Observer/Assets/). It connects like the book's app and shows the handshake
/// and every frame of its own connection, as the server saw them.
enum StartPage {
    static let html = ObserverAssets.startPage
}
