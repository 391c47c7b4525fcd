import Foundation
import NIOCore
import NIOHTTP1
import PhoenixChannels
import PhoenixProtocol

/// The answer to one LongPoll request. Phoenix answers every GET and POST with HTTP 200 and the real
/// status in the JSON body's `"status"`; only OPTIONS, other methods and our own refusals (503) differ.
struct LongPollAnswer: Sendable {
    var status: HTTPResponseStatus = .ok
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// The body's `"status"` (for the observer and logs); nil when the body is not Phoenix's JSON.
    var bodyStatus: Int?
    /// The frames a poll answer carries (for the observer), in order.
    var frames: [PhoenixFrame] = []

    /// Every answer's headers, as Phoenix 1.7 sends them (Plug's default cache-control).
    static func headers(json: Bool) -> HTTPHeaders {
        var headers: HTTPHeaders = [
            "access-control-allow-origin": "*",
            "cache-control": "max-age=0, private, must-revalidate",
        ]
        if json { headers.add(name: "content-type", value: "application/json; charset=utf-8") }
        return headers
    }

    /// `{"status":N}`.
    static func status(_ status: Int) -> LongPollAnswer {
        LongPollAnswer(
            headers: headers(json: true), body: ByteBuffer(string: "{\"status\":\(status)}"), bodyStatus: status)
    }

    /// `{"messages":[…],"status":N,"token":T}`: each frame a JSON string (binary frames in base64, as
    /// clients send theirs).
    static func messages(_ frames: [PhoenixFrame], status: Int, token: String) -> LongPollAnswer {
        var bytes: [UInt8] = Array("{\"messages\":[".utf8)
        bytes.reserveCapacity(frames.reduce(64 + token.utf8.count) { $0 + $1.bytes.readableBytes + 8 })
        for (index, frame) in frames.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            switch frame {
            case .text(let text):
                text.withUnsafeReadableBytes { JSONWriter.writeEscaped($0, into: &bytes) }
            case .binary(let binary):
                bytes += Data(binary.readableBytesView).base64EncodedString().utf8
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes += "],\"status\":\(status),\"token\":".utf8
        JSONWriter.writeString(token, into: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return LongPollAnswer(
            headers: headers(json: true), body: ByteBuffer(bytes: bytes), bodyStatus: status, frames: frames)
    }

    /// `{"error":"…","status":N}`: a request we could not take, with what was wrong (not in Phoenix,
    /// which fails such requests without saying why; its clients only read `status`).
    static func error(_ status: Int, _ message: String) -> LongPollAnswer {
        var bytes: [UInt8] = Array("{\"error\":".utf8)
        JSONWriter.writeString(message, into: &bytes)
        bytes += ",\"status\":\(status)}".utf8
        return LongPollAnswer(headers: headers(json: true), body: ByteBuffer(bytes: bytes), bodyStatus: status)
    }

    /// A plain HTTP answer (OPTIONS, methods Phoenix refuses with 400, our 503).
    static func plain(
        _ status: HTTPResponseStatus, extraHeaders: HTTPHeaders = [:], body: String = ""
    ) -> LongPollAnswer {
        var headers = headers(json: false)
        headers.add(contentsOf: extraHeaders)
        if !body.isEmpty { headers.add(name: "content-type", value: "text/plain; charset=utf-8") }
        return LongPollAnswer(status: status, headers: headers, body: ByteBuffer(string: body), bodyStatus: nil)
    }
}

/// The frames of a POST body (Phoenix.Transports.LongPoll's `publish`): with `Content-Type:
/// application/x-ndjson` one frame per line, at most 100, a line starting with `[` a text frame and any
/// other a base64 binary frame (Phoenix 1.7+); with any other type the whole body is one text frame
/// (phoenix.js 1.4 to 1.6).
enum LongPollPostBody {
    /// Phoenix's `@max_poll_batch_size` (phoenix.js sends batches of at most this many).
    static let maxLines = 100

    /// A frame and the line it came from (1-based).
    struct Line {
        var number: Int
        var frame: PhoenixFrame
    }

    /// A body, or a line of it, that carries no frame.
    struct Malformed: Error, CustomStringConvertible {
        var line: Int?
        var reason: String
        var description: String { line.map { "line \($0): \(reason)" } ?? reason }
    }

    /// The frames of `body`, in order, up to the first malformed line (then `malformed` says why).
    static func frames(of body: ByteBuffer, contentType: String?) -> (lines: [Line], malformed: Malformed?) {
        guard let contentType, isNDJSON(contentType) else { return ([Line(number: 1, frame: .text(body))], nil) }
        var parts = body.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if parts.last?.isEmpty == true { parts.removeLast() }  // a final newline ends the last line
        guard parts.count <= maxLines else {
            return ([], Malformed(line: nil, reason: "\(parts.count) lines: a POST carries at most \(maxLines) frames"))
        }
        var lines: [Line] = []
        lines.reserveCapacity(parts.count)
        for (index, var part) in parts.enumerated() {
            if part.last == UInt8(ascii: "\r") { part = part.dropLast() }
            let start = part.startIndex - body.readableBytesView.startIndex
            if part.isEmpty {
                return (lines, Malformed(line: index + 1, reason: "an empty line is not a frame"))
            } else if part.first == UInt8(ascii: "[") {
                // A slice of the body: no copy.
                guard let text = body.getSlice(at: body.readerIndex + start, length: part.count) else { continue }
                lines.append(Line(number: index + 1, frame: .text(text)))
            } else if let bytes = Data(base64Encoded: Data(part)) {
                lines.append(Line(number: index + 1, frame: .binary(ByteBuffer(bytes: bytes))))
            } else {
                let reason = "neither a JSON array (starting with [) nor base64 (a binary frame)"
                return (lines, Malformed(line: index + 1, reason: reason))
            }
        }
        return (lines, nil)
    }

    /// Whether the media type is `application/x-ndjson`, in any case, parameters and spaces aside (bytewise:
    /// this runs for every POST).
    private static func isNDJSON(_ contentType: String) -> Bool {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }.drop(while: isSpace).reversed().drop(while: isSpace)
        let expected = "application/x-ndjson".utf8
        return mediaType.count == expected.count && zip(mediaType, expected.reversed()).allSatisfy { byte, wanted in
            byte == wanted || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte + 32 == wanted)
        }
    }
}
