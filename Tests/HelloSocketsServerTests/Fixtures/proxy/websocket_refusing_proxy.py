#!/usr/bin/env python3
"""An HTTP proxy that breaks WebSockets, as some corporate proxies do: plain HTTP requests are forwarded, a
CONNECT tunnel (how browsers carry ws:// through a proxy) or an Upgrade request is refused with 403.

Usage: websocket_refusing_proxy.py   (listens on a free 127.0.0.1 port and prints `listening on PORT`;
stops when stdin closes). Forwards to the host and port of each request's absolute URI, one request at a time
per client connection (answers must carry a Content-Length, as HelloSockets' do). For tests only.
"""
import asyncio
import sys
import urllib.parse


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    return lines[0], lines[1:]


def content_length(headers):
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-length":
            return int(value)
    return 0


async def serve(client_reader, client_writer):
    upstream = None
    try:
        while True:
            try:
                request_line, headers = await read_head(client_reader)
            except asyncio.IncompleteReadError:
                return
            method, target, version = request_line.split(" ", 2)
            upgrade = any(h.lower().startswith("upgrade:") for h in headers)
            if method == "CONNECT" or upgrade:
                print(f"refused {method} {target}", flush=True)
                client_writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await client_writer.drain()
                return
            url = urllib.parse.urlsplit(target)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            body = await client_reader.readexactly(content_length(headers))
            if upstream is None:
                upstream = await asyncio.open_connection(url.hostname, url.port or 80)
            kept = [h for h in headers if not h.lower().startswith("proxy-")]
            upstream[1].write(f"{method} {path} {version}\r\n{''.join(h + chr(13) + chr(10) for h in kept)}\r\n"
                              .encode("latin-1") + body)
            await upstream[1].drain()
            status_line, response_headers = await read_head(upstream[0])
            response_body = await upstream[0].readexactly(content_length(response_headers))
            client_writer.write(f"{status_line}\r\n{''.join(h + chr(13) + chr(10) for h in response_headers)}\r\n"
                                .encode("latin-1") + response_body)
            await client_writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        if upstream is not None:
            upstream[1].close()
        client_writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin


if __name__ == "__main__":
    asyncio.run(main())
