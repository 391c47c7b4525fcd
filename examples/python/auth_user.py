#!/usr/bin/env python3
"""Connect to the token-checked socket (/auth_socket) and join your own user channel.

    hello-sockets token sign 'salt identifier' 42        # prints a token for user 42 (same --secret-key-base
                                                         # or SECRET_KEY_BASE as the running server)
    python3 examples/python/auth_user.py --base ws://127.0.0.1:4000 --token TOKEN --user 42

The server's channels/auth_socket/socket.lua verifies the token (phx.token.verify, max one day old) and
refuses the connection with HTTP 403 otherwise; user.lua lets you join "user:42" only, and refuses
anyone else's topic with {"reason":"unauthorized"}.
"""
import argparse
import asyncio
import json
import urllib.parse

import websockets


async def exchange(ws, message):
    """Send one frame and wait for the reply carrying its ref."""
    text = json.dumps(message, separators=(",", ":"))
    print(">", text, flush=True)
    await ws.send(text)
    while True:
        reply = json.loads(await ws.recv())
        print("<", json.dumps(reply, separators=(",", ":")), flush=True)
        if reply[1] == message[1] and reply[3] == "phx_reply":
            return reply[4]


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="ws://127.0.0.1:4000", help="server address (ws:// or wss://)")
    parser.add_argument("--token", required=True, help="a token from `hello-sockets token sign 'salt identifier' ID`")
    parser.add_argument("--user", required=True, help="the user id the token was signed for")
    args = parser.parse_args()

    query = urllib.parse.urlencode({"token": args.token, "vsn": "2.0.0"})
    url = f"{args.base}/auth_socket/websocket?{query}"
    try:
        async with websockets.connect(url) as ws:
            mine = await exchange(ws, ["1", "1", f"user:{args.user}", "phx_join", {}])
            print(f"join user:{args.user}: {mine['status']}", flush=True)
            other = await exchange(ws, ["2", "2", "user:someone-else", "phx_join", {}])
            print(f"join user:someone-else: {other['status']} {json.dumps(other['response'])}", flush=True)
    except websockets.exceptions.InvalidStatus as refused:
        # A missing, forged or expired token: the socket's connect said no (HTTP 403).
        print(f"connection refused: HTTP {refused.response.status_code}", flush=True)
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
