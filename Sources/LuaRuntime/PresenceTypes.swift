import PhoenixProtocol

/// A topic's presence list as the host shares it (`phx.presence.list`): `{key: {metas: [meta, …]}}`,
/// made once per change of the topic and read by every channel that lists it. Immutable.
public protocol PresenceListing: AnyObject, Sendable {
    /// The list as JSON: an object, `{}` when nobody is present.
    var value: JSONValue { get }
    /// The same as compact JSON text, put together once for every channel that sends it.
    var json: [UInt8] { get }
}

/// Where `phx.presence.list` reads: the node's presence state (Phoenix.Presence's `list/1`).
public protocol PresenceDirectory: AnyObject {
    /// The list of `topic` as clients have been told it so far.
    func list(topic: String) -> PresenceListing
}

/// What `phx.presence.track/update/untrack` ask of the channel's host.
public enum PresenceChange: Sendable, Equatable {
    /// Track the channel under a key with this meta (`phx_ref` is added by the host).
    case track(meta: [String: JSONValue])
    /// Replace the meta of the channel's presence under a key (new `phx_ref`, `phx_ref_prev` = the old one).
    case update(meta: [String: JSONValue])
    /// Stop tracking the channel under a key.
    case untrack
}

/// Why a presence change was refused: the Lua call returns `nil, reason`.
public enum PresenceRefusal: String, Error, Sendable {
    /// `track` of a key this channel already tracks on that topic.
    case alreadyTracked = "already tracked"
    /// `update` or `untrack` of a key this channel does not track on that topic.
    case notTracked = "not tracked"
    /// The host has no presence tracker (a host that is not a Phoenix socket).
    case unavailable = "presence is not available here"
}
