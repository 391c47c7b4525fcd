#!/usr/bin/env python3
"""phoenix.js's LongPoll transport as versions 1.4.6 and 1.8.12 put it on the wire, against a running server.

A port, line for line where it touches the wire, of phoenixframework/phoenix:
- v1.4.6  assets/js/phoenix.js: `class LongPoll`, `class Ajax` (XMLHttpRequest);
- v1.8.12 assets/js/phoenix/longpoll.js, ajax.js, and what socket.js gives them (endPointURL, no heartbeats).
What each sends (URL with its params and the token, headers, body) and how it reads each answer (status in the
JSON body, 410 = open or session gone, 204, 403) follow the source; the browser's event loop is modelled where
it matters to the wire: 1.8 batches the sends of one task into one POST (setTimeout 0) and buffers later sends
while a batch awaits its ack; 1.4 posts every send at once, one frame per request.

Usage: longpoll_wire.py --port PORT --version 1.8.12|1.4.6 [--window-ms 300]
Prints each request and answer, and `ok: …` per check; exits 1 on the first failed check.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def log(*parts):
    print(*parts, flush=True)


class Ajax:
    """`Ajax.serialize` / `Ajax.appendParams`, identical in 1.4.6 and 1.8.12 (for..in over the params)."""

    @staticmethod
    def serialize(obj, parent_key=None):
        query = []
        for key, value in (obj or {}).items():  # for..in over null iterates nothing
            param_key = f"{parent_key}[{key}]" if parent_key else key
            if value is None or isinstance(value, dict):  # typeof null === "object"
                query.append(Ajax.serialize(value, param_key))
            else:
                text = "undefined" if value is Undefined else str(value)
                query.append(urllib.parse.quote(param_key, safe="-_.!~*'()") + "=" + urllib.parse.quote(text, safe="-_.!~*'()"))
        return "&".join(query)

    @staticmethod
    def append_params(url, params):
        if not params:
            return url
        prefix = "&" if "?" in url else "?"
        return f"{url}{prefix}{Ajax.serialize(params)}"


class _Undefined:
    """JavaScript's `undefined` (the book's page has `params: {token: window.userToken}`, unset)."""


Undefined = _Undefined()


def end_point_url(port, user_params):
    """socket.js `endPointURL()`: endPoint `/socket/websocket`, the user params, then vsn; ws:// for the host."""
    uri = Ajax.append_params(Ajax.append_params("/socket/websocket", user_params), {"vsn": "2.0.0"})
    return f"ws://127.0.0.1:{port}{uri}"


def normalize_endpoint(end_point):
    """LongPoll `normalizeEndpoint` (same in both versions)."""
    url = end_point.replace("ws://", "http://").replace("wss://", "https://")
    head, sep, tail = url.rpartition("/websocket")
    return head + "/longpoll" + tail if sep else url


class Request:
    """One XMLHttpRequest / fetch: runs on a thread, calls back with the parsed JSON (None if not JSON)."""

    def __init__(self, method, url, headers, body, timeout, callback):
        self.method, self.url, self.headers, self.body = method, url, headers, body
        self.timeout, self.callback = timeout, callback
        self.aborted = False
        threading.Thread(target=self._run, daemon=True).start()

    def abort(self):
        self.aborted = True

    def _run(self):
        parts = urllib.parse.urlsplit(self.url)
        path = self.url.split(parts.netloc, 1)[1]  # exactly as built, a trailing "&" included
        log(f"> {self.method} {path} {json.dumps(self.headers, sort_keys=True)} {self.body!r}" if self.body is not None
            else f"> {self.method} {path} {json.dumps(self.headers, sort_keys=True)}")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout / 1000)
            conn.putrequest(self.method, path, skip_accept_encoding=True)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            data = self.body.encode() if self.body is not None else None
            if data is not None:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            response = conn.getresponse()
            text = response.read().decode()
            conn.close()
        except OSError as error:
            log(f"< {self.method} failed: {error}")
            text = None
        if self.aborted:
            return
        log(f"< {text}")
        try:
            parsed = json.loads(text) if text else None  # Ajax.parseJSON
        except ValueError:
            parsed = None
        self.callback(parsed)


class Loop:
    """The page's event loop: callbacks run one at a time, in order (JavaScript runs one task at a time)."""

    def __init__(self):
        self.lock = threading.RLock()

    def task(self, body):
        def run(*args):
            with self.lock:
                body(*args)
        return run


CONNECTING, OPEN, CLOSED = 0, 1, 3


class LongPoll1812:
    """assets/js/phoenix/longpoll.js at v1.8.12 (its Ajax picks XMLHttpRequest in a browser)."""

    def __init__(self, end_point, loop, timeout=20000):
        self.loop, self.timeout = loop, timeout
        self.token = None
        self.skip_heartbeat = True
        self.reqs = set()
        self.awaiting_batch_ack = False
        self.current_batch = None
        self.batch_buffer = []
        self.onopen = self.onerror = self.onmessage = self.onclose = lambda *a: None
        self.poll_endpoint = normalize_endpoint(end_point)
        self.ready_state = CONNECTING
        threading.Timer(0, self.loop.task(self.poll)).start()  # setTimeout(() => this.poll(), 0)

    def endpoint_url(self):
        return Ajax.append_params(self.poll_endpoint, {"token": self.token})

    def close_and_retry(self, code, reason, was_clean):
        self.close(code, reason, was_clean)
        self.ready_state = CONNECTING

    def is_active(self):
        return self.ready_state in (OPEN, CONNECTING)

    def poll(self):
        def on_response(resp):
            if resp:
                status, token, messages = resp.get("status"), resp.get("token"), resp.get("messages")
                if status == 410 and self.token is not None:
                    self.onerror(410)
                    self.close_and_retry(3410, "session_gone", False)
                    return
                self.token = token
            else:
                status = 0
            if status == 200:
                for msg in messages:
                    self.onmessage({"data": msg})
                self.poll()
            elif status == 204:
                self.poll()
            elif status == 410:
                self.ready_state = OPEN
                self.onopen({})
                self.poll()
            elif status == 403:
                self.onerror(403)
                self.close(1008, "forbidden", False)
            elif status in (0, 500):
                self.onerror(500)
                self.close_and_retry(1011, "internal server error", 500)
            else:
                raise RuntimeError(f"unhandled poll status {status}")
        self.ajax("GET", {"Accept": "application/json"}, None, on_response)

    def send(self, body):
        """Sends made in one task are batched: the caller ends its task with `end_task()` (setTimeout 0)."""
        if self.current_batch is not None:
            self.current_batch.append(body)
        elif self.awaiting_batch_ack:
            self.batch_buffer.append(body)
        else:
            self.current_batch = [body]

    def end_task(self):
        if self.current_batch is not None:
            batch, self.current_batch = self.current_batch, None
            self.batch_send(batch)

    def batch_send(self, messages, offset=0):
        self.awaiting_batch_ack = True
        nxt = offset + 100  # MAX_LONGPOLL_BATCH_SIZE
        batch = messages[offset:nxt]

        def on_response(resp):
            if not resp or resp.get("status") != 200:
                self.awaiting_batch_ack = False
                self.onerror(resp and resp.get("status"))
                self.close_and_retry(1011, "internal server error", False)
            elif nxt < len(messages):
                self.batch_send(messages, nxt)
            elif self.batch_buffer:
                buffered, self.batch_buffer = self.batch_buffer, []
                self.batch_send(buffered)
            else:
                self.awaiting_batch_ack = False
        self.ajax("POST", {"Content-Type": "application/x-ndjson"}, "\n".join(batch), on_response)

    def close(self, code=1000, reason=None, was_clean=True):
        for req in list(self.reqs):
            req.abort()
        self.ready_state = CLOSED
        self.batch_buffer = []
        self.awaiting_batch_ack = False
        self.current_batch = None
        self.onclose({"code": code, "reason": reason, "wasClean": was_clean})

    def ajax(self, method, headers, body, callback):
        holder = []

        def on_response(resp):
            self.reqs.discard(holder[0])
            if self.is_active():
                callback(resp)
        req = Request(method, self.endpoint_url(), headers, body, self.timeout, self.loop.task(on_response))
        holder.append(req)
        self.reqs.add(req)


class LongPoll146:
    """`class LongPoll` of assets/js/phoenix.js at v1.4.6 (XMLHttpRequest, Content-Type set even on GET)."""

    def __init__(self, end_point, loop, timeout=20000):
        self.loop, self.timeout = loop, timeout
        self.token = None
        self.skip_heartbeat = True
        self.onopen = self.onerror = self.onmessage = self.onclose = lambda *a: None
        self.poll_endpoint = normalize_endpoint(end_point)
        self.ready_state = CONNECTING
        self.loop.task(self.poll)()

    def endpoint_url(self):
        return Ajax.append_params(self.poll_endpoint, {"token": self.token})

    def poll(self):
        if self.ready_state not in (OPEN, CONNECTING):
            return

        def on_response(resp):
            if resp:
                status, token, messages = resp.get("status"), resp.get("token"), resp.get("messages")
                self.token = token
            else:
                status = 0
            if status == 200:
                for msg in messages:
                    self.onmessage({"data": msg})
                self.poll()
            elif status == 204:
                self.poll()
            elif status == 410:
                self.ready_state = OPEN
                self.onopen()
                self.poll()
            elif status in (0, 500):
                self.onerror()
                self.close()
                self.ready_state = CONNECTING
            else:
                raise RuntimeError(f"unhandled poll status {status}")
        Request("GET", self.endpoint_url(), {"Content-Type": "application/json"}, None, self.timeout,
                self.loop.task(on_response))

    def send(self, body):
        def on_response(resp):
            if not resp or resp.get("status") != 200:
                self.onerror(resp and resp.get("status"))
                self.close()
                self.ready_state = CONNECTING
        Request("POST", self.endpoint_url(), {"Content-Type": "application/json"}, body, self.timeout,
                self.loop.task(on_response))

    def end_task(self):
        pass  # nothing batched in 1.4

    def close(self, code=None, reason=None):
        self.ready_state = CLOSED
        self.onclose()


class Client:
    """What socket.js does with a transport's events, reduced to what these checks need: frames as received."""

    def __init__(self, transport_class, port, loop):
        self.transport_class, self.port, self.loop = transport_class, port, loop
        self.frames, self.events = [], []
        self.cond = threading.Condition()
        self.connect()

    def connect(self):
        self.conn = self.transport_class(end_point_url(self.port, {"token": Undefined}), self.loop)
        self.conn.onopen = lambda *a: self._event("open")
        self.conn.onerror = lambda *a: self._event(f"error {a[0] if a else ''}".strip())
        self.conn.onclose = lambda *a: self._event(f"close {a[0]['code'] if a and a[0] else ''}".strip())
        self.conn.onmessage = lambda event: self._frame(event["data"])

    def _event(self, name):
        with self.cond:
            self.events.append(name)
            self.cond.notify_all()

    def _frame(self, text):
        with self.cond:
            self.frames.append(text)
            self.cond.notify_all()

    def push(self, *frames):
        """Frames pushed in one JavaScript task, in order (JSON.stringify of [join_ref, ref, topic, event, payload])."""
        with self.loop.lock:
            for frame in frames:
                self.conn.send(json.dumps(frame, separators=(",", ":")))
            self.conn.end_task()

    def wait(self, what, condition, timeout=10):
        deadline = time.time() + timeout
        with self.cond:
            while not condition():
                left = deadline - time.time()
                if left <= 0:
                    fail(f"timed out waiting for {what}; frames {self.frames}, events {self.events}")
                self.cond.wait(left)

    def expect_frames(self, expected):
        self.wait(f"frames {expected}", lambda: len(self.frames) >= len(expected))
        got, self.frames = self.frames[:len(expected)], self.frames[len(expected):]
        check(got == expected, f"frames {got} == {expected}")


def fail(message):
    log(f"FAIL: {message}")
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    log(f"ok: {message}")


def broadcast(port, topic, event, payload):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    body = json.dumps({"topic": topic, "event": event, "payload": payload})
    conn.request("POST", "/api/broadcast", body, {"Content-Type": "application/json"})
    check(conn.getresponse().status == 200, "broadcast accepted")
    conn.close()


def reply(join_ref, ref, topic, response, status="ok"):
    return json.dumps([join_ref, ref, topic, "phx_reply", {"response": response, "status": status}], separators=(",", ":"))


def run(version, port, window_ms):
    loop = Loop()
    transport = LongPoll1812 if version == "1.8.12" else LongPoll146
    client = Client(transport, port, loop)
    client.wait("open", lambda: "open" in client.events)
    check(client.conn.token is not None, "the first 410 opened the session and gave a token")

    # Join and ping in one task: one ndjson POST in 1.8, two POSTs in 1.4 (which may land in either order, so
    # 1.4 waits for the join's reply before pinging, as an app would with join().receive("ok")).
    if version == "1.8.12":
        client.push(["1", "1", "ping", "phx_join", {}], ["1", "2", "ping", "ping", {"ack_phrase": "hi"}])
        client.expect_frames([reply("1", "1", "ping", {}), reply("1", "2", "ping", {"ping": "hi"})])
    else:
        client.push(["1", "1", "ping", "phx_join", {}])
        client.expect_frames([reply("1", "1", "ping", {})])
        client.push(["1", "2", "ping", "ping", {"ack_phrase": "hi"}])
        client.expect_frames([reply("1", "2", "ping", {"ping": "hi"})])

    broadcast(port, "ping", "bcast", {"seq": 7})
    client.expect_frames([json.dumps([None, None, "ping", "bcast", {"seq": 7}], separators=(",", ":"))])

    # Held polls come back 204 after the window and the client polls again: the session lives on.
    time.sleep(3 * window_ms / 1000)
    client.push(["1", "3", "ping", "ping", {}])
    client.expect_frames([reply("1", "3", "ping", {"ping": "pong"})])

    if version == "1.8.12":
        # Session gone: stop polling past 1.5 windows; the next poll's 410 with a token held means "gone": 3410.
        with loop.lock:
            for req in list(client.conn.reqs):
                req.abort()
            client.conn.reqs.clear()
            stale = client.conn
            stale.ready_state = CLOSED  # nothing polls now
        # The aborted poll still reaches the server, which answers it after the window: then 1.5 windows.
        time.sleep(2.5 * window_ms / 1000 + 0.5)
        with loop.lock:
            stale.ready_state = OPEN
            stale.poll()
        client.wait("session gone", lambda: "close 3410" in client.events)
        check("error 410" in client.events, "a 410 while holding a token is an error, then close 3410")
        # socket.js reconnects with a new transport (token null): a new session, and the channel rejoins.
        client.events.clear()
        client.connect()
        client.wait("reopen", lambda: "open" in client.events)
        client.push(["4", "4", "ping", "phx_join", {}])
        client.expect_frames([reply("4", "4", "ping", {})])

    client.push(["4" if version == "1.8.12" else "1", "5", "ping", "phx_leave", {}])
    join_ref = "4" if version == "1.8.12" else "1"
    client.expect_frames([reply(join_ref, "5", "ping", {}),
                          json.dumps([join_ref, join_ref, "ping", "phx_close", {}], separators=(",", ":"))])
    log(f"phoenix.js {version} LongPoll: all checks passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["1.8.12", "1.4.6"], required=True)
    parser.add_argument("--window-ms", type=int, default=10000, help="the server's LongPoll window")
    args = parser.parse_args()
    run(args.version, args.port, args.window_ms)


if __name__ == "__main__":
    main()
