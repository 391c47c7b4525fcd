/// The page at `/`. A first version: it connects like the book's app and logs what happens.
enum StartPage {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><title>HelloSockets</title></head>
        <body>
        <h1>HelloSockets</h1>
        <p>A Phoenix Channels server written in Swift, with channels in Lua.</p>
        <pre id="log"></pre>
        <script>
        const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
        const url = `ws://${location.host}/socket/websocket?token=undefined&vsn=2.0.0`;
        const ws = new WebSocket(url);
        ws.onopen = () => {
          log("connected to " + url);
          const join = JSON.stringify(["1", "1", "ping", "phx_join", {}]);
          log("> " + join);
          ws.send(join);
        };
        ws.onmessage = (event) => log("< " + event.data);
        ws.onclose = (event) => log(`closed ${event.code} ${event.reason}`);
        </script>
        </body>
        </html>

        """
}
