import NIOCore

/// One `Value` per event loop of the server, each used only on its own loop (no locks).
public struct PerEventLoop<Value>: Sendable {
    /// Every loop with its value, in the group's order.
    public let entries: [(loop: EventLoop, value: NIOLoopBoundBox<Value>)]

    public init(loops: [EventLoop], make: (EventLoop) -> Value) {
        entries = loops.map { loop in (loop, NIOLoopBoundBox.makeBoxSendingValue(make(loop), eventLoop: loop)) }
    }

    /// The value of `loop`; call only on that loop.
    public func value(on loop: EventLoop) -> Value {
        guard let entry = entries.first(where: { $0.loop === loop }) else {
            preconditionFailure("event loop not part of this server")
        }
        return entry.value.value
    }
}
