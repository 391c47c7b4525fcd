// HelloSockets' Phoenix client: a small, dependency-free subset of phoenix.js (MIT-licensed ideas, our code).
// V2 serializer (text frames: [join_ref, ref, topic, event, payload]), join/push/receive with replies
// matched by ref, a heartbeat (30 s by default), reconnect with backoff and rejoin; WebSocket or Phoenix's
// LongPoll transport, and phoenix.js's fallback from the one to the other; and Presence.
//
//   const socket = new Phoenix.Socket("/socket", {params: {token: window.userToken}});
//   socket.connect();   // ws://HOST/socket/websocket?token=undefined&vsn=2.0.0
//   // {transport: Phoenix.LongPoll}: http://HOST/socket/longpoll?… instead;
//   // {longPollFallbackMs: 2500}: WebSocket first, LongPoll when it fails or isn't up in 2.5 s (remembered
//   // for the tab's session, as phoenix.js does).
//   const channel = socket.channel("ping", {});
//   channel.join().receive("ok", (resp) => console.log("joined", resp));
//   channel.push("ping", {}).receive("ok", (resp) => console.log(resp));  // {"ping":"pong"}
(function (global) {
  "use strict";

  const VSN = "2.0.0";
  const DEFAULT_TIMEOUT = 10000;
  const RECONNECT_AFTER = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];  // then 5000 ms
  const REJOIN_AFTER = [1000, 2000, 5000];                                // then 10000 ms
  const now = () => (global.performance ? global.performance.now() : Date.now());

  const Serializer = {
    encode(msg) {
      return JSON.stringify([msg.join_ref, msg.ref, msg.topic, msg.event, msg.payload]);
    },
    decode(raw) {
      const [join_ref, ref, topic, event, payload] = JSON.parse(raw);
      return { join_ref, ref, topic, event, payload };
    },
  };

  class Timer {
    constructor(callback, afterMs) { this.callback = callback; this.afterMs = afterMs; this.tries = 0; this.handle = null; }
    reset() { this.tries = 0; clearTimeout(this.handle); this.handle = null; }
    schedule() {
      clearTimeout(this.handle);
      this.handle = setTimeout(() => { this.tries += 1; this.callback(); }, this.afterMs(this.tries + 1));
    }
  }

  // One message sent to the server that expects a reply: `receive(status, cb)` for "ok", "error", "timeout".
  class Push {
    constructor(channel, event, payload, timeout) {
      this.channel = channel; this.event = event; this.payload = payload || {}; this.timeout = timeout;
      this.ref = null; this.reply = null; this.hooks = []; this.timer = null; this.sentAt = null; this.roundTripMs = null;
    }
    send() {
      const socket = this.channel.socket;
      this.reply = null;
      this.ref = socket.makeRef();
      this.sentAt = now();  // again when actually written, if the socket buffered it
      socket.awaitReply(this);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.settle({ status: "timeout", response: {} }), this.timeout);
      socket.push({ join_ref: this.channel.joinRef(), ref: this.ref, topic: this.channel.topic, event: this.event, payload: this.payload },
        () => { this.sentAt = now(); });
    }
    resend(timeout) { this.timeout = timeout; this.send(); }
    receive(status, callback) {
      if (this.reply && this.reply.status === status) callback(this.reply.response, this);
      this.hooks.push({ status, callback });
      return this;
    }
    settle(reply) {
      if (this.reply) return;
      clearTimeout(this.timer);
      this.channel.socket.forgetReply(this.ref);
      this.reply = reply;
      if (reply.status !== "timeout") this.roundTripMs = now() - this.sentAt;
      this.hooks.filter((h) => h.status === reply.status).forEach((h) => h.callback(reply.response, this));
      this.channel.socket.trigger("reply", this);
    }
  }

  class Channel {
    constructor(topic, params, socket) {
      this.topic = topic; this.params = params || {}; this.socket = socket;
      this.state = "closed"; this.bindings = []; this.buffer = []; this.joinedOnce = false;
      this.timeout = socket.timeout;
      this.joinPush = new Push(this, "phx_join", this.params, this.timeout);
      this.rejoinTimer = new Timer(() => { if (this.socket.isConnected()) this.rejoin(); }, socket.rejoinAfterMs);
      this.joinPush.receive("ok", () => {
        this.state = "joined"; this.rejoinTimer.reset();
        this.buffer.forEach((push) => push.send()); this.buffer = [];
      });
      this.joinPush.receive("error", () => { this.state = "errored"; if (this.socket.isConnected()) this.rejoinTimer.schedule(); });
      this.joinPush.receive("timeout", () => {
        // phoenix.js: leave the half-joined channel, then try again later.
        new Push(this, "phx_leave", {}, this.timeout).send();
        this.state = "errored"; this.joinPush.reply = null; this.rejoinTimer.schedule();
      });
    }
    join(timeout) {
      if (this.joinedOnce) throw new Error(`tried to join "${this.topic}" more than once; use a new channel`);
      this.joinedOnce = true; this.timeout = timeout || this.timeout;
      this.rejoin();
      return this.joinPush;
    }
    rejoin() {
      if (this.state === "leaving" || this.state === "left") return;
      this.socket.leaveOpenTopic(this);
      this.state = "joining";
      this.joinPush.reply = null;
      this.joinPush.resend(this.timeout);
    }
    joinRef() { return this.joinPush.ref; }
    canPush() { return this.socket.isConnected() && this.state === "joined"; }
    on(event, callback) { this.bindings.push({ event, callback }); return this; }
    off(event) { this.bindings = this.bindings.filter((b) => b.event !== event); }
    push(event, payload, timeout) {
      if (!this.joinedOnce) throw new Error(`push "${event}" to "${this.topic}" before joining`);
      const push = new Push(this, event, payload, timeout || this.timeout);
      if (this.canPush()) push.send(); else this.buffer.push(push);
      return push;
    }
    leave(timeout) {
      this.rejoinTimer.reset();
      this.state = "leaving";
      const push = new Push(this, "phx_leave", {}, timeout || this.timeout);
      const done = () => { this.state = "left"; this.socket.remove(this); this.trigger({ event: "phx_close", payload: "leave", ref: null }); };
      push.receive("ok", done).receive("timeout", done);
      if (this.socket.isConnected()) push.send(); else push.settle({ status: "ok", response: {} });
      return push;
    }
    // Frames for this topic, unless they belong to an earlier join of it (their join_ref differs).
    isMember(msg) {
      if (msg.topic !== this.topic) return false;
      return msg.join_ref === null || msg.join_ref === undefined || msg.join_ref === this.joinRef();
    }
    trigger(msg) {
      if (msg.event === "phx_close" && this.state !== "left") { this.state = "closed"; this.rejoinTimer.reset(); this.socket.remove(this); }
      if (msg.event === "phx_error" && this.state !== "left" && this.state !== "leaving") {
        this.state = "errored"; if (this.socket.isConnected()) this.rejoinTimer.schedule();
      }
      this.bindings.filter((b) => b.event === msg.event).forEach((b) => b.callback(msg.payload, msg.ref, msg.join_ref));
    }
  }

  const CONNECTING = 0, OPEN = 1, CLOSED = 3;  // WebSocket's readyState values, shared by LongPoll

  // Phoenix's LongPoll transport (phoenix.js 1.8's longpoll.js), with a WebSocket's interface: GET polls
  // the session's frames (the first 410 opens it and gives its token), POST carries the frames this client
  // sends, those sent in one task batched as ndjson lines, at most 100 per request. A 410 once a token is
  // held means the session is gone: close with 3410, and the socket reconnects and rejoins.
  class LongPoll {
    constructor(endPoint) {
      this.pollEndpoint = LongPoll.normalizeEndpoint(endPoint);
      this.token = null;
      this.skipHeartbeat = true;  // phoenix.js sends no heartbeats over LongPoll: polling is the keep-alive
      this.readyState = CONNECTING;
      this.timeout = 20000;       // phoenix.js's longpollerTimeout
      this.controllers = new Set();
      this.batch = null; this.awaitingAck = false; this.buffered = [];
      this.onopen = this.onerror = this.onmessage = this.onclose = () => {};
      setTimeout(() => this.poll(), 0);  // after the caller has set the handlers
    }
    static normalizeEndpoint(endPoint) {
      return endPoint.replace("ws://", "http://").replace("wss://", "https://").replace(/(.*)\/websocket/, "$1/longpoll");
    }
    endpointURL() { return this.token ? `${this.pollEndpoint}&token=${encodeURIComponent(this.token)}` : this.pollEndpoint; }
    isActive() { return this.readyState === OPEN || this.readyState === CONNECTING; }
    poll() {
      this.request("GET", { Accept: "application/json" }, null, (resp) => {
        const status = resp ? resp.status : 0;
        if (resp && status === 410 && this.token !== null) {
          this.onerror(410);
          return this.closeAndRetry(3410, "session_gone");
        }
        if (resp) this.token = resp.token;
        switch (status) {
          case 200: resp.messages.forEach((data) => setTimeout(() => this.onmessage({ data }), 0)); return this.poll();
          case 204: return this.poll();
          case 410: this.readyState = OPEN; this.onopen({}); return this.poll();
          case 403: this.onerror(403); return this.close(1008, "forbidden", false);
          default: this.onerror(status); return this.closeAndRetry(1011, "internal server error");
        }
      });
    }
    send(text) {
      if (this.batch) return this.batch.push(text);
      if (this.awaitingAck) return this.buffered.push(text);
      this.batch = [text];
      this.batchTimer = setTimeout(() => { const batch = this.batch; this.batch = null; this.post(batch); }, 0);
    }
    post(messages) {
      this.awaitingAck = true;
      const rest = messages.slice(100);
      this.request("POST", { "Content-Type": "application/x-ndjson" }, messages.slice(0, 100).join("\n"), (resp) => {
        if (!resp || resp.status !== 200) {
          this.awaitingAck = false;
          this.onerror(resp && resp.status);
          return this.closeAndRetry(1011, "internal server error");
        }
        const next = rest.length > 0 ? rest : this.buffered;
        if (next === this.buffered) this.buffered = [];
        if (next.length > 0) this.post(next); else this.awaitingAck = false;
      });
    }
    close(code, reason, wasClean) {
      this.controllers.forEach((controller) => controller.abort());
      this.controllers.clear();
      clearTimeout(this.batchTimer);
      this.batch = null; this.buffered = []; this.awaitingAck = false;
      this.readyState = CLOSED;
      this.onclose({ code: code || 1000, reason: reason || "", wasClean: wasClean !== false });
    }
    closeAndRetry(code, reason) { this.close(code, reason, false); }
    // One request; `callback(json)` with the parsed answer, or null when there is none (network error).
    request(method, headers, body, callback) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.timeout);
      this.controllers.add(controller);
      const done = (resp) => {
        clearTimeout(timer);
        this.controllers.delete(controller);
        if (this.isActive()) callback(resp);
      };
      fetch(this.endpointURL(), { method, headers, body, signal: controller.signal, cache: "no-store" })
        .then((response) => response.text())
        .then((text) => { try { return JSON.parse(text); } catch (e) { return null; } })
        .then(done, (error) => {
          if (error.name === "AbortError" && this.isActive()) { this.onerror("timeout"); this.closeAndRetry(1005, "timeout"); }
          else done(null);
        });
    }
  }

  class Socket {
    constructor(endPoint, opts = {}) {
      this.endPoint = `${endPoint}/websocket`;
      this.params = opts.params || {};
      this.timeout = opts.timeout || DEFAULT_TIMEOUT;
      this.heartbeatIntervalMs = opts.heartbeatIntervalMs || 30000;
      this.reconnectAfterMs = opts.reconnectAfterMs || ((tries) => RECONNECT_AFTER[tries - 1] || 5000);
      this.rejoinAfterMs = opts.rejoinAfterMs || ((tries) => REJOIN_AFTER[tries - 1] || 10000);
      this.channels = []; this.ref = 0; this.conn = null; this.replies = new Map(); this.sendBuffer = [];
      this.hooks = { open: [], close: [], error: [], message: [], send: [], reply: [], fallback: [] };
      this.heartbeatTimer = null; this.pendingHeartbeatRef = null; this.heartbeatSentAt = null;
      this.closeWasClean = false;
      this.reconnectTimer = new Timer(() => { this.conn = null; this.connect(); }, this.reconnectAfterMs);
      this.transport = opts.transport || global.WebSocket || LongPoll;
      this.longPollFallbackMs = opts.longPollFallbackMs;
      this.fallbackTimer = null; this.primaryPassedHealthCheck = false;
      this.sessionStore = opts.sessionStorage || global.sessionStorage;
    }
    // "WebSocket" or "LongPoll": the transport in use (or to be used).
    transportName() { return this.transport === LongPoll ? "LongPoll" : "WebSocket"; }
    // The URL phoenix.js builds: the user params first, then vsn.
    endPointURL() {
      let url = this.endPoint;
      if (url.startsWith("/")) {
        const scheme = global.location.protocol === "https:" ? "wss" : "ws";
        url = `${scheme}://${global.location.host}${url}`;
      }
      const params = typeof this.params === "function" ? this.params() : this.params;
      const query = Object.keys(params).map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`);
      query.push(`vsn=${VSN}`);
      return `${url}?${query.join("&")}`;
    }
    on(kind, callback) { this.hooks[kind].push(callback); }
    onOpen(cb) { this.on("open", cb); } onClose(cb) { this.on("close", cb); }
    onError(cb) { this.on("error", cb); } onMessage(cb) { this.on("message", cb); }
    trigger(kind, ...args) { this.hooks[kind].forEach((cb) => cb(...args)); }
    makeRef() { this.ref += 1; return String(this.ref); }
    // The URL the transport in use talks to (LongPoll's, without its session token).
    transportURL() { return this.transport === LongPoll ? LongPoll.normalizeEndpoint(this.endPointURL()) : this.endPointURL(); }
    isConnected() { return !!this.conn && this.conn.readyState === OPEN; }
    connect() {
      if (this.conn) return;
      if (this.longPollFallbackMs && this.transport !== LongPoll) this.connectWithFallback(this.longPollFallbackMs);
      else this.transportConnect();
    }
    transportConnect() {
      this.closeWasClean = false;
      const conn = new this.transport(this.endPointURL());
      this.conn = conn;
      conn.onopen = () => this.onConnOpen();
      conn.onerror = (error) => this.trigger("error", error);
      conn.onmessage = (event) => this.onConnMessage(event);
      conn.onclose = (event) => this.onConnClose(event, conn);
    }
    // phoenix.js's connectWithFallback: the WebSocket first; LongPoll if it errors before opening, or if it
    // hasn't answered a heartbeat within `afterMs` of opening (or at all). Falling back without the WebSocket
    // ever working is remembered in sessionStorage: later connects of the tab go straight to LongPoll.
    connectWithFallback(afterMs) {
      clearTimeout(this.fallbackTimer);
      (this.fallbackHooks || []).forEach(([kind, hook]) => this.off(kind, hook));
      const memory = "phx:fallback:LongPoll";
      let established = false, primary = true, healthCheck = null;
      const fallback = (reason) => {
        if (!primary) return;
        primary = false;
        clearTimeout(this.fallbackTimer);
        this.off("error", onError);
        if (healthCheck) this.off("message", healthCheck);
        this.trigger("fallback", reason);
        this.replaceTransport(LongPoll);
        this.transportConnect();
      };
      const onError = () => { if (primary && !established) fallback("error"); };
      const onOpen = () => {
        established = true;
        if (!primary) {  // LongPoll is up: remember it unless the WebSocket once worked
          if (!this.primaryPassedHealthCheck && this.sessionStore) this.sessionStore.setItem(memory, "true");
          return;
        }
        clearTimeout(this.fallbackTimer);
        this.fallbackTimer = setTimeout(() => fallback("no heartbeat reply"), afterMs);
        healthCheck = this.ping(() => { this.primaryPassedHealthCheck = true; clearTimeout(this.fallbackTimer); });
      };
      if (this.sessionStore && this.sessionStore.getItem(memory)) return fallback("memorized");
      this.fallbackTimer = setTimeout(() => fallback("timeout"), afterMs);
      this.on("error", onError);
      this.on("open", onOpen);
      this.fallbackHooks = [["error", onError], ["open", onOpen]];
      this.transportConnect();
    }
    replaceTransport(transport) {
      this.reconnectTimer.reset();
      if (this.conn) { const conn = this.conn; this.conn = null; conn.onclose = () => {}; conn.close(); }
      this.transport = transport;
    }
    // Sends a heartbeat; `callback(ms)` when its reply comes. Returns the message hook waiting for it.
    ping(callback) {
      if (!this.isConnected()) return null;
      const ref = this.makeRef(), start = now();
      const check = (msg) => { if (msg.ref === ref) { this.off("message", check); callback(now() - start); } };
      this.on("message", check);
      this.push({ join_ref: null, ref, topic: "phoenix", event: "heartbeat", payload: {} });
      return check;
    }
    off(kind, callback) { this.hooks[kind] = this.hooks[kind].filter((cb) => cb !== callback); }
    // Closes on purpose: no reconnect. Browsers allow the codes 1000 and 3000-4999 here.
    disconnect(code, reason) {
      this.closeWasClean = true;
      this.reconnectTimer.reset();
      clearTimeout(this.fallbackTimer);
      clearInterval(this.heartbeatTimer);
      if (this.conn) this.conn.close(code || 1000, reason || "");
    }
    sendRaw(text) { if (this.isConnected()) { this.conn.send(text); this.trigger("send", null, text); } }
    push(msg, onSent) {
      const text = Serializer.encode(msg);
      const send = () => { this.conn.send(text); if (onSent) onSent(); this.trigger("send", msg, text); };
      if (this.isConnected()) send(); else this.sendBuffer.push(send);
    }
    channel(topic, params) { const channel = new Channel(topic, params, this); this.channels.push(channel); return channel; }
    remove(channel) { this.channels = this.channels.filter((c) => c !== channel); }
    leaveOpenTopic(channel) {
      const dupe = this.channels.find((c) => c !== channel && c.topic === channel.topic && (c.state === "joined" || c.state === "joining"));
      if (dupe) dupe.leave();
    }
    awaitReply(push) { this.replies.set(push.ref, push); }
    forgetReply(ref) { this.replies.delete(ref); }

    onConnOpen() {
      this.reconnectTimer.reset();
      this.pendingHeartbeatRef = null;
      this.sendBuffer.forEach((send) => send()); this.sendBuffer = [];
      clearInterval(this.heartbeatTimer);
      if (!this.conn.skipHeartbeat) this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), this.heartbeatIntervalMs);
      this.trigger("open");
      this.channels.filter((c) => c.joinedOnce && c.state === "errored").forEach((c) => c.rejoin());
    }
    sendHeartbeat() {
      if (!this.isConnected()) return;
      if (this.pendingHeartbeatRef) {
        // No reply to the previous heartbeat: the connection is dead. Close and reconnect.
        this.pendingHeartbeatRef = null;
        this.heartbeatTimedOut = true;
        this.conn.close(1000, "heartbeat timeout");
        return;
      }
      this.pendingHeartbeatRef = this.makeRef();
      this.heartbeatSentAt = now();
      this.push({ join_ref: null, ref: this.pendingHeartbeatRef, topic: "phoenix", event: "heartbeat", payload: {} });
    }
    onConnMessage(event) {
      // Binary frames (a WebSocket's, or base64 over LongPoll): not handled by this small client.
      if (typeof event.data !== "string" || !event.data.startsWith("[")) return;
      const msg = Serializer.decode(event.data);
      if (msg.ref && msg.ref === this.pendingHeartbeatRef) {
        this.pendingHeartbeatRef = null;
        msg.roundTripMs = now() - this.heartbeatSentAt;
      }
      if (msg.event === "phx_reply" && this.replies.has(msg.ref)) {
        this.replies.get(msg.ref).settle(msg.payload);
      }
      this.channels.filter((c) => c.isMember(msg)).forEach((c) => c.trigger(msg));
      this.trigger("message", msg, event.data);
    }
    onConnClose(event, conn) {
      if (conn !== this.conn) return;
      clearInterval(this.heartbeatTimer);
      this.conn = null;
      this.replies.forEach((push) => clearTimeout(push.timer)); this.replies.clear();
      this.channels.forEach((c) => { if (c.state !== "left" && c.state !== "closed") c.trigger({ event: "phx_error", payload: {}, ref: null }); });
      this.trigger("close", event);
      // phoenix.js ≥ 1.6.3: a 1000 close from the server is final, but a heartbeat timeout reconnects.
      const reconnect = !this.closeWasClean && (event.code !== 1000 || this.heartbeatTimedOut);
      this.heartbeatTimedOut = false;
      if (reconnect) this.reconnectTimer.schedule();
    }
  }

  // Phoenix.Presence, with phoenix.js's semantics: a channel's list kept from "presence_state" and "presence_diff"
  // (`{key: {metas: [...]}}`), metas matched by phx_ref; diffs that arrive before the state of the channel's current
  // join wait for it. onJoin(key, current, joined), onLeave(key, current, left), onSync(), list(chooser).
  //   const presence = new Phoenix.Presence(channel);
  //   presence.onSync(() => render(presence.list((key, { metas }) => key)));
  const clone = (value) => JSON.parse(JSON.stringify(value));
  const refsOf = (presence) => new Set(presence.metas.map((meta) => meta.phx_ref));

  class Presence {
    constructor(channel, opts = {}) {
      const events = opts.events || { state: "presence_state", diff: "presence_diff" };
      this.channel = channel; this.state = {}; this.pendingDiffs = []; this.joinRef = null;
      this.caller = { onJoin() {}, onLeave() {}, onSync() {} };
      channel.on(events.state, (newState) => {
        const { onJoin, onLeave, onSync } = this.caller;
        this.joinRef = channel.joinRef();
        this.state = Presence.syncState(this.state, newState, onJoin, onLeave);
        this.pendingDiffs.forEach((diff) => { this.state = Presence.syncDiff(this.state, diff, onJoin, onLeave); });
        this.pendingDiffs = [];
        onSync();
      });
      channel.on(events.diff, (diff) => {
        const { onJoin, onLeave, onSync } = this.caller;
        if (this.inPendingSyncState()) { this.pendingDiffs.push(diff); return; }
        this.state = Presence.syncDiff(this.state, diff, onJoin, onLeave);
        onSync();
      });
    }
    onJoin(callback) { this.caller.onJoin = callback; }
    onLeave(callback) { this.caller.onLeave = callback; }
    onSync(callback) { this.caller.onSync = callback; }
    list(chooser) { return Presence.list(this.state, chooser); }
    // No state yet for the channel's current join (a first join, or a rejoin whose state has not come).
    inPendingSyncState() { return !this.joinRef || this.joinRef !== this.channel.joinRef(); }

    // A whole new list (after a join or rejoin) becomes the diff from the current one.
    static syncState(currentState, newState, onJoin, onLeave) {
      const state = clone(currentState), joins = {}, leaves = {};
      Object.keys(state).forEach((key) => { if (!newState[key]) leaves[key] = state[key]; });
      Object.keys(newState).forEach((key) => {
        const incoming = newState[key], current = state[key];
        if (!current) { joins[key] = incoming; return; }
        const newRefs = refsOf(incoming), currentRefs = refsOf(current);
        const joined = incoming.metas.filter((meta) => !currentRefs.has(meta.phx_ref));
        const left = current.metas.filter((meta) => !newRefs.has(meta.phx_ref));
        if (joined.length > 0) joins[key] = Object.assign({}, incoming, { metas: joined });
        if (left.length > 0) leaves[key] = Object.assign(clone(current), { metas: left });
      });
      return Presence.syncDiff(state, { joins, leaves }, onJoin, onLeave);
    }

    // Joins first (a key's metas stay oldest first), then leaves; a key goes when its last meta does.
    static syncDiff(state, diff, onJoin = () => {}, onLeave = () => {}) {
      const { joins, leaves } = clone(diff);
      Object.keys(joins || {}).forEach((key) => {
        const joined = joins[key], current = state[key];
        state[key] = joined;
        if (current) {
          const refs = refsOf(joined);
          joined.metas.unshift(...current.metas.filter((meta) => !refs.has(meta.phx_ref)));
        }
        onJoin(key, current, joined);
      });
      Object.keys(leaves || {}).forEach((key) => {
        const left = leaves[key], current = state[key];
        if (!current) return;
        const refs = refsOf(left);
        current.metas = current.metas.filter((meta) => !refs.has(meta.phx_ref));
        onLeave(key, current, left);
        if (current.metas.length === 0) delete state[key];
      });
      return state;
    }

    static list(presences, chooser = (key, presence) => presence) {
      return Object.keys(presences).map((key) => chooser(key, presences[key]));
    }
  }

  global.Phoenix = { Socket, Channel, Push, Serializer, LongPoll, Presence };
})(typeof window !== "undefined" ? window : globalThis);
