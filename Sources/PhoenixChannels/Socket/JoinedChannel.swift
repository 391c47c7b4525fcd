import LuaRuntime
import NIOCore
import PhoenixProtocol

extension PhoenixSocket {
    /// A joined (or joining) channel: its VM handle, the join_ref its frames carry, its PubSub
    /// subscription, and its mailbox.
    ///
    /// The mailbox is a Phoenix channel process's: while one of the channel's callbacks waits for
    /// I/O (`phx.http.request`…), the client's later messages, intercepted broadcasts and timers
    /// for this channel queue here, and run in arrival order once it finished. Other channels,
    /// on this socket or any other, run meanwhile. Fastlane broadcasts (not intercepted) never
    /// wait: as in Phoenix they go straight to the client without the channel.
    final class JoinedChannel: TopicSubscriber {
        let id: ChannelID
        let topic: String
        let joinRef: JSONValue
        /// The topic pattern of the script serving it (`/metrics`' joined channels).
        var pattern = ""
        unowned let socket: PhoenixSocket
        var timers: [TimerID: PhoenixTimer] = [:]
        /// True once its join succeeded (it is subscribed to its topic then).
        var joined = false
        /// The callback that waits, if one does (its result arrives in `callbackFinished`).
        var waiting: Waiting?
        /// What arrived while it waited, in order.
        var mailbox = Mailbox()
        /// The socket closed while a callback waited: once it finishes, `terminate` runs with this reason.
        var closing: String?
        /// Who this channel is to the presence tracker, from its first `phx.presence.track` on.
        var presenceOwner: PresenceOwner?

        /// A callback of this channel that waits for I/O.
        enum Waiting {
            /// Its join: reply to `ref`; `replacing` is the join_ref of the channel a duplicate join replaced.
            case join(ref: JSONValue, replacing: JSONValue?)
            /// `handle_in` of the message with `ref` (its reply goes there).
            case handleIn(ref: JSONValue)
            /// `handle_out` or `handle_info`.
            case other
            /// `terminate` (the channel is gone from the socket already).
            case terminate
        }

        /// Something for the channel that must wait its turn.
        enum Mail {
            case message(Message)
            case broadcast(EncodedBroadcast)
            case timer(TimerID)
        }

        /// A ring (draining takes from the front) that exists only while it holds mail: most channels never
        /// wait, and an empty NIO ring keeps 16 slots, about 1.5 KiB for every joined channel.
        struct Mailbox {
            private(set) var ring: CircularBuffer<Mail>?

            var isEmpty: Bool { ring?.isEmpty ?? true }
            var count: Int { ring?.count ?? 0 }

            mutating func append(_ mail: Mail) {
                if ring == nil { ring = CircularBuffer(initialCapacity: 4) }
                ring?.append(mail)
            }

            /// The oldest mail; the ring goes once it is empty.
            mutating func removeFirst() -> Mail? {
                let first = ring?.popFirst()
                if ring?.isEmpty == true { ring = nil }
                return first
            }

            /// Everything, oldest first, leaving the mailbox empty.
            mutating func takeAll() -> [Mail] {
                defer { ring = nil }
                return ring.map(Array.init) ?? []
            }
        }

        init(id: ChannelID, topic: String, joinRef: JSONValue, socket: PhoenixSocket) {
            self.id = id
            self.topic = topic
            self.joinRef = joinRef
            self.socket = socket
        }

        /// Mail one channel may hold while a callback waits: past it, a client's message is answered
        /// `{"reason": "mailbox full"}` and a broadcast or timer is dropped (logged).
        static let mailboxLimit = 1_000

        /// True while anything for it must queue: a callback waits, or earlier mail is not handled yet.
        var isBusy: Bool { waiting != nil || !mailbox.isEmpty }

        func deliver(_ broadcast: EncodedBroadcast) { socket.deliver(broadcast, to: self) }
    }
}
