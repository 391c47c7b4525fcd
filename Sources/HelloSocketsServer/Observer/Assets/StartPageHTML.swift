// index.html: the start page; /*CSS*/, /*PHOENIX*/ and /*OBSERVER*/ are replaced by the other assets.
// Embedded as a Swift string so the binary serves it from anywhere, with no resource bundle.
extension ObserverAssets {
    static let pageTemplate = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HelloSockets — watch a WebSocket</title>
<style>
/*CSS*/
</style>
</head>
<body>
<header>
  <h1>HelloSockets <span>— watch a WebSocket at work</span></h1>
  <code id="url">/socket/websocket?token=undefined&amp;vsn=2.0.0</code>
  <span class="spacer"></span>
  <span>connection <b id="conn-id">–</b></span>
  <span id="ws-status" class="pill">not connected</span>
  <span id="feed-status" class="pill">observer feed…</span>
</header>
<main>
  <aside>
    <div class="card">
      <h2>Channels</h2>
      <div class="row"><button id="join-ping" class="primary">Join ping</button></div>
      <label>Join <code>wild:A:B</code> (accepted only when B = 2 × A)</label>
      <div class="row">wild:<input id="wild-a" type="number" value="1">:<input id="wild-b" type="number" value="2"><button id="join-wild">Join</button></div>
      <label>Joined topic</label>
      <div class="row"><select id="push-topic"></select><button id="leave">Leave</button></div>
    </div>
    <div class="card">
      <h2>Push to the channel</h2>
      <label>Event</label>
      <div class="row">
        <select id="push-event">
          <option value="ping">ping</option>
          <option value="ping:">ping:&lt;phrase&gt;</option>
          <option value="param_ping">param_ping</option>
        </select>
        <span id="phrase-row" hidden><input id="push-phrase" value="hello" size="10"></span>
      </div>
      <label>Payload (JSON)</label>
      <textarea id="push-payload" rows="2">{}</textarea>
      <div class="row"><button id="push" class="primary">Push</button></div>
      <p class="hint">Try <code>{"ack_phrase": "hi"}</code> with ping, or <code>{"error": true}</code> with param_ping.</p>
    </div>
    <div class="card">
      <h2>Broadcast</h2>
      <div class="row"><input id="bc-topic" value="ping" size="8"><input id="bc-event" value="request_ping" size="12"></div>
      <label>Payload (JSON)</label>
      <textarea id="bc-payload" rows="1">{}</textarea>
      <div class="row"><button id="broadcast">POST /api/broadcast</button></div>
      <p class="hint"><code>request_ping</code> is intercepted by the ping channel, which pushes <code>send_ping</code>; any other event arrives as a broadcast.</p>
    </div>
    <div class="card">
      <h2>Raw text and closing</h2>
      <textarea id="raw-text" rows="1">not a Phoenix message</textarea>
      <div class="row"><button id="send-raw">Send raw text</button><span class="hint">the server closes with 1007</span></div>
      <label>Close with code and reason (browsers allow 1000 or 3000–4999)</label>
      <div class="row"><input id="close-code" type="number" value="1000" style="width:70px"><input id="close-reason" value="bye" size="8"><button id="close" class="danger">Close</button><button id="reconnect">Reconnect</button></div>
    </div>
    <div class="card">
      <h2>Replies</h2>
      <ul id="results"></ul>
    </div>
  </aside>
  <section>
    <div class="card">
      <h2><span class="num">1</span>The handshake</h2>
      <p class="intro">A WebSocket starts as an HTTP request asking to switch protocols. Below, the request your browser sent and the server's answer, as the server saw them.</p>
      <div id="handshake" data-ready="false"><p class="muted">Waiting for the connection…</p></div>
    </div>
    <div class="card">
      <h2><span class="num">2</span>Every frame, both ways</h2>
      <div class="legend">
        <span>A Phoenix message is a JSON array of five fields:</span>
        <span class="field"><span class="fname">join_ref</span><span class="fvalue">which join it belongs to</span></span>
        <span class="field"><span class="fname">ref</span><span class="fvalue">message number; replies repeat it</span></span>
        <span class="field"><span class="fname">topic</span><span class="fvalue">the channel</span></span>
        <span class="field"><span class="fname">event</span><span class="fvalue">what happened</span></span>
        <span class="field"><span class="fname">payload</span><span class="fvalue">the data</span></span>
      </div>
      <div class="toolbar"><span>Heartbeat every <b id="heartbeat-every">30 s</b> (set <code>?heartbeat=ms</code>). Hover a field or a header bit for help.</span>
        <label><input type="checkbox" id="hide-heartbeats"> hide heartbeats</label></div>
      <div id="frames-scroll">
        <table id="frames">
          <thead><tr><th>Time (server) · direction</th><th>Frame header</th><th>What it is · payload</th></tr></thead>
          <tbody></tbody>
        </table>
        <div id="frames-empty">Waiting for frames…</div>
      </div>
    </div>
  </section>
</main>
<footer>The page connects exactly as the book's app does, to <code>/socket/websocket?token=undefined&amp;vsn=2.0.0</code> (see it in DevTools → Network → WS), and reads the server's view of it from <code>/observe</code>. The client is <a href="/js/phoenix-client.js">/js/phoenix-client.js</a>.</footer>
<script>
/*PHOENIX*/
</script>
<script>
/*OBSERVER*/
</script>
</body>
</html>
"""#
}
