import Logging
import NIOConcurrencyHelpers

/// A log handler whose level can change while the server runs (SIGHUP with a new `log_level`): every
/// logger made by `LoggingSystem` shares one level.
struct LiveLevelLogHandler: LogHandler {
    /// The level all handlers read.
    static let level = NIOLockedValueBox<Logger.Level>(.info)

    private var stream: StreamLogHandler

    init(label: String) {
        stream = StreamLogHandler.standardError(label: label)
        stream.logLevel = .trace  // Logger filters by `logLevel` below before calling `log`
    }

    var logLevel: Logger.Level {
        get { Self.level.withLockedValue { $0 } }
        set { Self.level.withLockedValue { $0 = newValue } }
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        stream.log(event: event)
    }
}
