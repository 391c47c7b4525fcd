// The start page: connects like the book's app, then shows the handshake and every frame as the server saw
// them, from the observer feed /observe (filtered to this page's own connection by the hs_observe cookie).
// The WebSocket falls back to Phoenix's LongPoll when it fails, as phoenix.js's longPollFallbackMs does;
// /?transport=longpoll uses LongPoll from the start, /?transport=websocket never falls back. Without the
// feed (off, or blocked with the WebSocket), the frames shown are the browser's own.
(function () {
  "use strict";
  const $ = (selector) => document.querySelector(selector);
  const query = new URLSearchParams(location.search);
  const heartbeatMs = Number(query.get("heartbeat")) || 30000;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const followId = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");

  const FIELD_HELP = {
    join_ref: "which join of the channel this belongs to (the ref of its phx_join); null outside a channel",
    ref: "this message's number, chosen by the client; the server's reply carries the same ref",
    topic: "the channel, e.g. ping or wild:1:2; \"phoenix\" for the heartbeat",
    event: "what the message is: phx_join, phx_reply, heartbeat, or the channel's own events",
    payload: "the data: a JSON object",
  };
  const KIND_LABEL = {
    join: "join request", leave: "leave request", heartbeat: "heartbeat", "heartbeat-reply": "heartbeat reply",
    push: "push from client", reply: "reply", "server-push": "push from server", broadcast: "broadcast",
    "channel-close": "channel closed", "channel-error": "channel crashed", raw: "not Phoenix",
    ping: "ping", pong: "pong", close: "close", fragment: "fragment",
    "presence-state": "presence state", "presence-diff": "presence diff",
  };

  // ---- Rendering helpers --------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value; else if (key.startsWith("data-") || key === "title" || key === "colspan") node.setAttribute(key, value); else node[key] = value;
    }
    for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  const clock = (micros) => {
    const d = new Date(micros / 1000);
    return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0");
  };
  // The frames table's times: the server's clock, when it saw the frame (the Replies list uses the browser's).
  const serverTimeCell = (micros, ...children) => el("td", { class: "time", title: "server clock" }, clock(micros), ...children);
  const ms = (value) => (value < 10 ? value.toFixed(2) : value.toFixed(1)) + " ms";
  const json = (value) => JSON.stringify(value);

  // ---- State ----------------------------------------------------------------------------------------------
  const requests = new Map();      // conn|ref -> {event, topic, t}
  const browserRtt = new Map();    // ref -> ms measured by our client
  const pendingDeflated = new Map(); // conn -> row waiting for its inflated payload
  let frameCount = 0;
  let currentConn = null;
  let feedOn = false;

  // ---- The observer feed ----------------------------------------------------------------------------------
  function openFeed() {
    return new Promise((resolve) => {
      let settled = false;
      const done = (ok) => { if (!settled) { settled = true; resolve(ok); } };
      let feed;
      // Off loopback the feed needs the API token: open the page as /?api_token=… to pass it on.
      const apiToken = query.get("api_token");
      const tokenParam = apiToken ? `&token=${encodeURIComponent(apiToken)}` : "";
      try { feed = new WebSocket(`${scheme}://${location.host}/observe?follow=${followId}${tokenParam}`); } catch (e) { return done(false); }
      feed.onmessage = (event) => {
        const data = JSON.parse(event.data);
        if (data.type === "hello") {
          // In a cluster, the node that serves this page (a load balancer may pick another on reconnect).
          if (data.node) { $("#node-name").textContent = data.node; $("#node").hidden = false; }
          setFeedStatus(true); done(true);
        }
        onFeedEvent(data);
      };
      feed.onclose = () => { setFeedStatus(false); done(false); };
      setTimeout(() => done(false), 3000);
    });
  }

  function setFeedStatus(on) {
    feedOn = on;
    $("#feed-status").textContent = on ? "observer feed on" : "observer feed off";
    $("#feed-status").className = "pill " + (on ? "ok" : "bad");
    if (!on && frameCount === 0) {
      $("#frames-empty").textContent = "The observer feed is off (the server listens off loopback without --observe, or WebSockets are blocked), so the server's view of the frames cannot be shown: the frames below are the browser's.";
    }
  }

  function onFeedEvent(data) {
    switch (data.type) {
      case "open": return showHandshake(data);
      case "frame": return addFrame(data);
      case "message": return addMessage(data);
      case "http": return addExchange(data);
      case "closed":
        if (data.transport === "longpoll") return addNote(data, `LongPoll session ${data.conn} ended (${data.reason})`, "note-closed");
        return addNote(data, "TCP connection " + data.conn + " closed", "note-closed");
      case "dropped": return addNote(data, `${data.count} event(s) dropped: this page read the feed too slowly`, "note-dropped");
    }
  }

  // ---- Handshake ------------------------------------------------------------------------------------------
  // A header value wraps only at its spaces: each space-separated token is one unbreakable box (CSS .token),
  // so "permessage-deflate; client_max_window_bits" never breaks inside a word or at its hyphen.
  function headerValue(value) {
    return value.split(/( +)/).map((part) => (/^ *$/.test(part) ? part : el("span", { class: "token" }, part)));
  }

  function headerLines(headers, highlight) {
    return headers.map(([name, value]) => el("div", { class: "hline" + (highlight.includes(name.toLowerCase()) ? " hl" : "") },
      el("span", { class: "hname" }, name + ": "), el("span", { class: "hvalue" }, headerValue(value))));
  }

  function showHandshake(data) {
    currentConn = data.conn;
    $("#conn-id").textContent = data.conn;
    const box = $("#handshake");
    box.replaceChildren(
      el("div", { class: "hs-grid" },
        el("div", { class: "hs-side" },
          el("h3", {}, "Request ", el("small", {}, "browser → server, as the server read it")),
          el("div", { class: "http" }, el("div", { class: "start-line" }, data.request.line),
            headerLines(data.request.headers, ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"]))),
        el("div", { class: "hs-side" },
          el("h3", {}, "Response ", el("small", {}, "server → browser")),
          el("div", { class: "http" }, el("div", { class: "start-line ok" }, data.response.line),
            headerLines(data.response.headers, ["upgrade", "connection", "sec-websocket-accept", "sec-websocket-extensions"])),
          data.transport === "longpoll" ? httpBody(data.response.body) : null,
          el("p", { class: "explain" }, data.transport === "longpoll"
            ? "LongPoll: this 410 opened a session and gave its token. From here on every exchange is an HTTP request: the browser POSTs its frames and keeps a GET waiting for the server's (answered at once when frames are queued, else 204 after 10 s)."
            : "After this 101 the TCP connection stops speaking HTTP: from here on both sides send WebSocket frames."))),
      data.accept ? el("div", { class: "derive" },
        el("h3", {}, "How Sec-WebSocket-Accept is derived ", el("small", {}, "RFC 6455 §4.2.2: proves the server understood the WebSocket request")),
        el("ol", {},
          el("li", {}, "The browser's random key (16 bytes, base64): ", el("code", {}, data.accept.key)),
          el("li", {}, "Append the fixed GUID ", el("code", {}, data.accept.guid), ": ", el("code", { class: "wrap" }, data.accept.concatenated)),
          el("li", {}, "SHA-1 of that string (20 bytes, hex): ", el("code", {}, data.accept.sha1_hex)),
          el("li", {}, "base64 of those 20 bytes: ", el("code", { class: "accept" }, data.accept.accept), " ",
            el("span", { class: "check" }, "= the Sec-WebSocket-Accept header ✓")))) : null);
    box.setAttribute("data-ready", "true");
    box.setAttribute("data-conn", data.conn);
    box.setAttribute("data-transport", data.transport || "websocket");
    addNote(data, `${data.conn} connected from ${data.peer}: ${data.request.line}`, "note-open");
  }

  function httpBody(body) {
    return body ? el("div", { class: "http" }, el("div", { class: "hline" }, el("span", { class: "hvalue" }, body))) : null;
  }

  // One LongPoll request and its answer (frames follow as rows of their own). Empty polls hide with heartbeats.
  function addExchange(data) {
    const frames = data.frames === 1 ? "1 frame" : `${data.frames} frames`;
    const held = data.held_ms > 0 ? ` · held ${data.held_ms} ms` : "";
    const text = `${data.request.line.replace(/ HTTP\/1\.1$/, "")} → ${data.status ?? data.response.line} · ${frames}${held} (${data.http_conn})`;
    addNote(data, text, data.status === 204 ? "note-poll-empty" : "note-http");
  }

  // ---- Frames -----------------------------------------------------------------------------------------------
  function phoenixFields(text) {
    try {
      const value = JSON.parse(text);
      if (Array.isArray(value) && value.length === 5 && typeof value[2] === "string" && typeof value[3] === "string") {
        const [join_ref, ref, topic, event, payload] = value;
        return { join_ref, ref, topic, event, payload };
      }
    } catch (e) { /* not JSON */ }
    return null;
  }

  function classify(dir, msg) {
    if (dir === "in") {
      if (msg.topic === "phoenix" && msg.event === "heartbeat") return "heartbeat";
      if (msg.event === "phx_join") return "join";
      if (msg.event === "phx_leave") return "leave";
      return "push";
    }
    if (msg.event === "phx_reply") return msg.topic === "phoenix" ? "heartbeat-reply" : "reply";
    if (msg.event === "phx_close") return "channel-close";
    if (msg.event === "phx_error") return "channel-error";
    if (msg.event === "presence_state") return "presence-state";
    if (msg.event === "presence_diff") return "presence-diff";
    if (msg.join_ref === null && msg.ref === null) return "broadcast";
    return "server-push";
  }

  function fieldChips(msg) {
    return el("div", { class: "fields" }, ["join_ref", "ref", "topic", "event", "payload"].map((name) =>
      el("span", { class: "field f-" + name, title: FIELD_HELP[name] },
        el("span", { class: "fname" }, name), el("span", { class: "fvalue" }, json(msg[name])))));
  }

  function describe(kind, dir, msg, data) {
    const key = data.conn + "|" + msg.ref;
    if (dir === "in" && msg.ref !== null) requests.set(key, { event: msg.event, topic: msg.topic, t: data.t });
    if ((kind === "reply" || kind === "heartbeat-reply") && requests.has(key)) {
      const request = requests.get(key);
      const status = msg.payload && msg.payload.status;
      const parts = [`↩ answers ref ${json(msg.ref)} (${request.event} on ${request.topic}): `, el("b", { class: "status-" + status }, status),
        ` · server took ${ms((data.t - request.t) / 1000)}`];
      if (browserRtt.has(msg.ref)) parts.push(el("span", { class: "rtt" }, ` · browser round trip ${ms(browserRtt.get(msg.ref))}`));
      return { note: parts, replyTo: request.event };
    }
    const notes = {
      join: "asks to join the channel; the server answers with a phx_reply carrying the same ref",
      heartbeat: `keeps the connection alive (every ${heartbeatMs / 1000} s); answered by a phx_reply on topic phoenix`,
      leave: "leaves the channel; the server replies, then sends phx_close",
      push: "an event for the channel; a reply (if any) carries the same ref",
      broadcast: "sent to every subscriber of the topic: join_ref and ref are null",
      "server-push": "sent by the channel to this client only: no ref, since nothing asked for it",
      "channel-close": "the channel ended normally; the client won't rejoin",
      "channel-error": "the channel crashed; the client will rejoin",
      "presence-state": "who is here (Phoenix.Presence): each key with its metas, pushed by the channel after the join",
    };
    if (kind === "presence-diff" && msg.payload) {
      const count = (group) => Object.keys(group || {}).length;
      return { note: [`who is here changed: ${count(msg.payload.joins)} key(s) joined, ${count(msg.payload.leaves)} left `
        + "(a broadcast to the topic; metas are matched by phx_ref)"] };
    }
    return { note: notes[kind] ? [notes[kind]] : [] };
  }

  function addFrame(data) {
    frameCount += 1;
    $("#frames-empty").hidden = true;
    const isData = ["text", "binary", "continuation"].includes(data.opcode);
    let kind = data.opcode, msg = null, info = { note: [] };
    if (isData && data.encoding === "text") {
      msg = data.fin && data.opcode === "text" ? phoenixFields(data.payload) : null;
      if (msg) { kind = classify(data.dir, msg); info = describe(kind, data.dir, msg, data); }
      else kind = data.fin && data.opcode !== "continuation" ? "raw" : "fragment";
    } else if (isData) {
      kind = data.encoding === "deflated" ? "deflated" : "raw";
    }
    if (data.opcode === "close") info.note = [`code ${data.close_code ?? "(none)"}${data.close_reason ? ` — "${data.close_reason}"` : ""}`];
    if (data.opcode === "ping" || data.opcode === "pong") info.note = ["a WebSocket control frame (not Phoenix's heartbeat)"];

    const row = el("tr", {
      class: `frame dir-${data.dir} kind-${kind}`, "data-dir": data.dir, "data-kind": kind, "data-opcode": data.opcode,
      "data-event": msg ? msg.event : null, "data-topic": msg ? msg.topic : null, "data-ref": msg ? msg.ref : null,
      "data-reply-to": info.replyTo || null, "data-close-code": data.close_code ?? null,
    },
      (data.clock === "browser" ? browserTimeCell : serverTimeCell)(data.t,
        el("div", { class: "dir" }, data.dir === "in" ? el("span", { class: "arrow in" }, "browser → server") : el("span", { class: "arrow out" }, "server → browser"))),
      data.transport === "longpoll" || data.clock === "browser" ? el("td", { class: "hdr" },
        el("span", { class: "op op-" + data.opcode }, data.opcode),
        data.transport === "longpoll" ? el("span", { class: "bit on", title: "LongPoll carries frames in HTTP bodies" }, data.dir === "in" ? "POST body" : "GET answer") : null,
        el("span", { class: "len" }, data.length + " B")) : el("td", { class: "hdr" },
        el("span", { class: "op op-" + data.opcode, title: `opcode ${data.opcode_value}` }, data.opcode),
        el("span", { class: "bit" + (data.fin ? " on" : ""), title: "FIN: last frame of the message" }, "FIN " + (data.fin ? 1 : 0)),
        el("span", { class: "bit" + (data.rsv1 ? " on" : ""), title: "RSV1: payload compressed (permessage-deflate)" }, "RSV1 " + (data.rsv1 ? 1 : 0)),
        el("span", { class: "bit mask" + (data.masked ? " on" : ""), title: "Clients mask every frame with a random 4-byte key; servers never mask" },
          data.masked ? "MASK " + data.mask : "unmasked"),
        el("span", { class: "len", title: "payload length on the wire" }, data.length + " B" + (data.inflated_length !== undefined ? ` (${data.inflated_length} B before deflate)` : ""))),
      el("td", { class: "what" },
        el("div", { class: "what-line" }, el("span", { class: "kind kind-" + kind }, KIND_LABEL[kind] || kind), el("span", { class: "note" }, info.note)),
        el("div", { class: "payload" }, renderPayload(data, msg))));
    if (info.replyTo) row.setAttribute("data-reply-ref", msg.ref);
    if (data.encoding === "deflated") pendingDeflated.set(data.conn, row);
    append(row);
  }

  function renderPayload(data, msg) {
    if (msg) return fieldChips(msg);
    if (data.encoding === "deflated") return el("span", { class: "muted" }, `${data.length} compressed bytes (inflated below once the message is complete)`);
    if (data.opcode === "close") return el("code", {}, data.encoding === "hex" ? data.payload : json(data.payload));
    if (data.payload === "") return el("span", { class: "muted" }, "(empty)");
    return el("code", { class: "raw" }, data.encoding === "hex" ? "hex " + data.payload : data.payload, data.truncated ? " …" : "");
  }

  function addMessage(data) {
    const row = pendingDeflated.get(data.conn);
    const msg = data.encoding === "text" ? phoenixFields(data.payload) : null;
    if (!row) return;  // a fragmented, uncompressed message: its frames already show it
    pendingDeflated.delete(data.conn);
    let kind = "raw", info = { note: [] };
    if (msg) { kind = classify("in", msg); info = describe(kind, "in", msg, data); }
    row.classList.replace("kind-deflated", "kind-" + kind);
    row.setAttribute("data-kind", kind);
    if (msg) { row.setAttribute("data-event", msg.event); row.setAttribute("data-topic", msg.topic); row.setAttribute("data-ref", msg.ref); }
    const what = row.querySelector(".what");
    what.replaceChildren(
      el("div", { class: "what-line" }, el("span", { class: "kind kind-" + kind }, KIND_LABEL[kind] || kind), el("span", { class: "note" }, info.note)),
      el("div", { class: "payload" }, msg ? fieldChips(msg) : el("code", { class: "raw" }, data.payload)),
      el("div", { class: "note muted" }, `compressed (RSV1): ${data.length} B once inflated by the server`));
  }

  function addNote(data, text, cls) {
    $("#frames-empty").hidden = true;
    append(el("tr", { class: "note-row " + cls, "data-kind": cls }, serverTimeCell(data.t), el("td", { colspan: 2 }, text)));
  }

  function append(row) {
    const body = $("#frames tbody");
    body.append(row);
    if ($("#hide-heartbeats").checked && isHeartbeatLike(row)) row.hidden = true;
    const scroller = $("#frames-scroll");
    if (scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 200) scroller.scrollTop = scroller.scrollHeight;
  }

  // Heartbeats, and LongPoll's empty polls (its keep-alive).
  const isHeartbeatLike = (row) => /heartbeat|poll-empty/.test(row.getAttribute("data-kind") || "");
  const browserTimeCell = (micros, ...children) => el("td", { class: "time", title: "browser clock" }, clock(micros), ...children);

  // ---- The Phoenix connection and the controls ----------------------------------------------------------------
  const transportOption = query.get("transport");
  const socket = new Phoenix.Socket("/socket", Object.assign(
    { params: { token: window.userToken }, heartbeatIntervalMs: heartbeatMs },
    transportOption === "longpoll" ? { transport: Phoenix.LongPoll }
      : transportOption === "websocket" ? {} : { longPollFallbackMs: Number(query.get("fallback")) || 2500 }));
  const channels = new Map();
  window.helloSocket = socket;

  function result(text, cls) {
    const list = $("#results");
    // The browser's clock: the replies are what this page's client saw (the frames table shows the server's).
    list.prepend(el("li", { class: cls || "" }, el("span", { class: "time", title: "browser clock" }, clock(Date.now() * 1000)), " ", text));
    while (list.children.length > 8) list.lastChild.remove();
  }

  function setStatus(text, cls) { $("#ws-status").textContent = text; $("#ws-status").className = "pill " + cls; }

  socket.on("reply", (push) => {
    if (push.roundTripMs !== null) { browserRtt.set(push.ref, push.roundTripMs); addRtt(push.ref, push.roundTripMs); }
    const status = push.reply.status;
    result(`${push.event} on ${push.channel.topic} → ${status} ${json(push.reply.response)}${push.roundTripMs !== null ? ` in ${ms(push.roundTripMs)}` : ""}`, "status-" + status);
  });
  socket.onMessage((msg) => { if (msg.roundTripMs !== undefined) { browserRtt.set(msg.ref, msg.roundTripMs); addRtt(msg.ref, msg.roundTripMs); } });
  // The browser may learn a round trip after the feed showed the reply: add it to the row then.
  function addRtt(ref, value) {
    const row = [...document.querySelectorAll("#frames tr[data-reply-ref]")].reverse().find((r) => r.getAttribute("data-reply-ref") === ref);
    if (row && !row.querySelector(".rtt")) row.querySelector(".what-line .note").append(el("span", { class: "rtt" }, ` · browser round trip ${ms(value)}`));
  }
  socket.onOpen(() => { setStatus(`open (${socket.transportName()})`, "ok"); $("#url").textContent = socket.transportURL(); refreshTopics(); });
  socket.on("fallback", (reason) => result(`WebSocket unavailable (${reason}): falling back to LongPoll`, "status-error"));
  // Without the feed, the browser's own view of the frames.
  const browserFrame = (dir, text) => {
    if (feedOn || text === null) return;
    addFrame({ conn: "browser", clock: "browser", t: Date.now() * 1000, dir, opcode: "text", fin: true, transport: socket.transportName() === "LongPoll" ? "longpoll" : undefined,
      length: new TextEncoder().encode(text).length, payload: text, encoding: "text" });
  };
  socket.on("send", (msg, text) => browserFrame("in", text));
  socket.onMessage((msg, raw) => browserFrame("out", raw));
  socket.onClose((event) => { setStatus(`closed ${event.code}${event.reason ? " " + event.reason : ""}`, "bad"); result(`socket closed: code ${event.code}${event.reason ? ` "${event.reason}"` : ""}`, "status-error"); refreshTopics(); });

  function join(topic) {
    const existing = channels.get(topic);
    if (existing && existing.state !== "left" && existing.state !== "closed") existing.leave();
    const channel = socket.channel(topic, {});
    channels.set(topic, channel);
    channel.on("phx_close", () => refreshTopics());
    channel.on("send_ping", (payload) => result(`send_ping pushed on ${topic}: ${json(payload)}`, "status-push"));
    channel.join().receive("ok", refreshTopics).receive("error", refreshTopics);
    refreshTopics();
    return channel;
  }

  const wildTopic = () => `wild:${$("#wild-a").value}:${$("#wild-b").value}`;
  const isJoined = (topic) => channels.has(topic) && ["joining", "joined"].includes(channels.get(topic).state);

  // Called on every change of a channel's state: the topic list and the join buttons follow it.
  function refreshTopics() {
    const select = $("#push-topic");
    const current = select.value;
    select.replaceChildren(...[...channels.keys()].map((topic) => el("option", { value: topic, selected: topic === current }, `${topic} (${channels.get(topic).state})`)));
    // A join button is off while its topic is joining or joined: a click would only leave and rejoin it.
    for (const [button, topic] of [["#join-ping", "ping"], ["#join-wild", wildTopic()]]) {
      $(button).disabled = isJoined(topic);
      $(button).title = $(button).disabled ? `already ${channels.get(topic).state}: leave it first` : "";
    }
  }

  function bindControls() {
    $("#join-ping").onclick = () => join("ping");
    $("#join-wild").onclick = () => join(wildTopic());
    $("#wild-a").oninput = $("#wild-b").oninput = refreshTopics;
    $("#leave").onclick = () => { const ch = channels.get($("#push-topic").value); if (ch) { ch.leave(); refreshTopics(); } };  // phx_close refreshes again
    $("#push-event").onchange = () => {
      const event = $("#push-event").value;
      $("#phrase-row").hidden = event !== "ping:";
      if (event === "param_ping") $("#push-payload").value = '{"error": false, "arr": [1, 2]}';
      else if (event === "ping") $("#push-payload").value = "{}";
    };
    $("#push").onclick = () => {
      const channel = channels.get($("#push-topic").value);
      if (!channel) return result("join a channel first", "status-error");
      let payload;
      try { payload = JSON.parse($("#push-payload").value || "{}"); } catch (e) { return result("the payload is not valid JSON: " + e.message, "status-error"); }
      let event = $("#push-event").value;
      if (event === "ping:") event = "ping:" + $("#push-phrase").value;
      channel.push(event, payload);
    };
    $("#send-raw").onclick = () => socket.sendRaw($("#raw-text").value);
    $("#broadcast").onclick = async () => {
      let payload;
      try { payload = JSON.parse($("#bc-payload").value || "{}"); } catch (e) { return result("the payload is not valid JSON", "status-error"); }
      const body = { topic: $("#bc-topic").value, event: $("#bc-event").value, payload };
      const response = await fetch("/api/broadcast", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      result(`POST /api/broadcast ${json(body)} → ${response.status} ${await response.text()}`, response.ok ? "status-ok" : "status-error");
    };
    $("#close").onclick = () => socket.disconnect(Number($("#close-code").value), $("#close-reason").value);
    $("#reconnect").onclick = () => { if (!socket.conn) socket.connect(); };
    $("#hide-heartbeats").onchange = () => {
      document.querySelectorAll("#frames tbody tr").forEach((row) => { row.hidden = $("#hide-heartbeats").checked && isHeartbeatLike(row); });
    };
  }

  async function start() {
    bindControls();
    $("#heartbeat-every").textContent = heartbeatMs / 1000 + " s";
    // The follow cookie: sent with the upgrade request, so the feed can tell this page its own connection
    // while the URL stays exactly the book's. Set before the feed opens, not just before connecting: Chromium
    // stores a cookie asynchronously, and a WebSocket opened right after the assignment sometimes went
    // without it (the feed then never matched the connection and the frames table stayed empty).
    document.cookie = `hs_observe=${followId}; path=/socket; SameSite=Strict`;
    await openFeed();
    setStatus("connecting", "wait");
    socket.connect();
    join("ping");
  }
  start();
})();
