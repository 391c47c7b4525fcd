#!/usr/bin/env python3
"""A backend for the phx.http tests: slow, silent, oversized and echoing answers, on 127.0.0.1.

    GET /slow?ms=N     answers "slow" after N milliseconds
    GET /hang          never answers (the connection stays open)
    GET /big?bytes=N   answers N bytes
    ANY /echo          answers {"method", "path", "body", "headers"} as JSON
The first line printed is `listening on 127.0.0.1:PORT` (`--port 0` picks a free port).
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

stop = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if url.path == "/slow":
            time.sleep(int(query.get("ms", "500")) / 1000)
            return self.answer(200, b"slow")
        if url.path == "/hang":
            stop.wait(600)  # bounded: the test stops the process long before
            return
        if url.path == "/big":
            return self.answer(200, b"x" * int(query.get("bytes", "0")))
        if url.path == "/echo":
            value = {"method": self.command, "path": self.path, "body": body.decode(),
                     "headers": {k.lower(): v for k, v in self.headers.items()}}
            return self.answer(200, json.dumps(value).encode(), "application/json")
        self.answer(404, b"no such path")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
