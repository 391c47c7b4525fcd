#!/usr/bin/env python3
"""The application's backend for examples/backend: who may join which room, and where messages go.

A stand-in for the web app a real-time tier sits next to (Centrifugo calls it the proxy target): the
channel in channels/room.lua asks it over HTTP before letting anyone join, and hands it every message.

    GET  /authorize?user=ada&room=lobby   200 {"user": "ada", "display": "Ada"} | 403 {"reason": "..."}
    POST /messages  {"room", "user", "body"}   201 {"id": n}
    GET  /messages?room=lobby              200 [{"id", "room", "user", "body"}, ...]  (to look at)

Standard library only. `--port 0` picks a free port; the first line printed is `listening on HOST:PORT`.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# Who exists and which rooms they may enter ("*": any).
USERS = {
    "ada": {"display": "Ada", "rooms": ["*"]},
    "grace": {"display": "Grace", "rooms": ["*"]},
    "bob": {"display": "Bob", "rooms": ["lobby"]},
}

messages = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/authorize":
            user = USERS.get(query.get("user", ""))
            if user is None:
                return self.answer(403, {"reason": "unknown user"})
            if "*" not in user["rooms"] and query.get("room") not in user["rooms"]:
                return self.answer(403, {"reason": "not allowed in this room"})
            return self.answer(200, {"user": query["user"], "display": user["display"]})
        if url.path == "/messages":
            with lock:
                found = [m for m in messages if m["room"] == query.get("room", m["room"])]
            return self.answer(200, found)
        self.answer(404, {"reason": "no such path"})

    def do_POST(self):
        if urlparse(self.path).path != "/messages":
            return self.answer(404, {"reason": "no such path"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
            message = json.loads(self.rfile.read(length))
            room, user, body = message["room"], message["user"], message["body"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"reason": "expected {room, user, body}"})
        with lock:
            messages.append({"id": len(messages) + 1, "room": room, "user": user, "body": body})
            new_id = len(messages)
        self.answer(201, {"id": new_id})

    def log_message(self, format, *args):  # quiet: the server's --trace shows every call
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4100)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening on {args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
