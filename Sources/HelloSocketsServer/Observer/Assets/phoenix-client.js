// HelloSockets' Phoenix client: a small, dependency-free subset of phoenix.js (MIT-licensed ideas, our code).
// V2 serializer (text frames: [join_ref, ref, topic, event, payload]), join/push/receive with replies
// matched by ref, a heartbeat (30 s by default), reconnect with backoff and rejoin.
//
//   const socket = new Phoenix.Socket("/socket", {params: {token: window.userToken}});
//   socket.connect();   // ws://HOST/socket/websocket?token=undefined&vsn=2.0.0
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

  class Socket {
    constructor(endPoint, opts = {}) {
      this.endPoint = `${endPoint}/websocket`;
      this.params = opts.params || {};
      this.timeout = opts.timeout || DEFAULT_TIMEOUT;
      this.heartbeatIntervalMs = opts.heartbeatIntervalMs || 30000;
      this.reconnectAfterMs = opts.reconnectAfterMs || ((tries) => RECONNECT_AFTER[tries - 1] || 5000);
      this.rejoinAfterMs = opts.rejoinAfterMs || ((tries) => REJOIN_AFTER[tries - 1] || 10000);
      this.channels = []; this.ref = 0; this.conn = null; this.replies = new Map(); this.sendBuffer = [];
      this.hooks = { open: [], close: [], error: [], message: [], send: [], reply: [] };
      this.heartbeatTimer = null; this.pendingHeartbeatRef = null; this.heartbeatSentAt = null;
      this.closeWasClean = false;
      this.reconnectTimer = new Timer(() => { this.conn = null; this.connect(); }, this.reconnectAfterMs);
    }
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
    isConnected() { return !!this.conn && this.conn.readyState === WebSocket.OPEN; }
    connect() {
      if (this.conn) return;
      this.closeWasClean = false;
      const conn = new WebSocket(this.endPointURL());
      this.conn = conn;
      conn.onopen = () => this.onConnOpen();
      conn.onerror = (error) => this.trigger("error", error);
      conn.onmessage = (event) => this.onConnMessage(event);
      conn.onclose = (event) => this.onConnClose(event, conn);
    }
    // Closes on purpose: no reconnect. Browsers allow the codes 1000 and 3000-4999 here.
    disconnect(code, reason) {
      this.closeWasClean = true;
      this.reconnectTimer.reset();
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
      this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), this.heartbeatIntervalMs);
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
      if (typeof event.data !== "string") return;  // binary frames: not handled by this small client
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

  global.Phoenix = { Socket, Channel, Push, Serializer };
})(typeof window !== "undefined" ? window : globalThis);
