#!/usr/bin/env python3
"""Join the "ping" channel of a HelloSockets (or Phoenix) server, ping it, print the replies.

    python3 -m pip install websockets
    python3 examples/python/join_and_ping.py --url 'ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0'

Every frame is a JSON array (the V2 serializer): [join_ref, ref, topic, event, payload].
Lines starting with ">" are what we send, "<" what the server sends back.
"""
import argparse
import asyncio
import json

import websockets


async def heartbeat(ws, next_ref, interval):
    """Phoenix closes a socket that says nothing for a while: send a heartbeat every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        await send(ws, [None, next_ref(), "phoenix", "heartbeat", {}])


async def send(ws, message):
    text = json.dumps(message, separators=(",", ":"))
    print(">", text, flush=True)
    await ws.send(text)


async def reply_to(ws, ref):
    """Reads frames, printing each, until the reply (phx_reply) to `ref` arrives; returns its payload."""
    while True:
        text = await ws.recv()
        print("<", text, flush=True)
        join_ref, reply_ref, topic, event, payload = json.loads(text)
        if event == "phx_reply" and reply_ref == ref:
            return payload


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0")
    parser.add_argument("--count", type=int, default=3, help="how many pings to send")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between pings")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats")
    args = parser.parse_args()

    refs = iter(range(1, 1_000_000))          # every message we send gets a new ref: "1", "2", ...
    next_ref = lambda: str(next(refs))

    async with websockets.connect(args.url) as ws:
        # Join: the join's ref becomes the channel's join_ref, sent with every later message to it.
        join_ref = next_ref()
        await send(ws, [join_ref, join_ref, "ping", "phx_join", {}])
        reply = await reply_to(ws, join_ref)
        if reply["status"] != "ok":
            raise SystemExit(f"could not join ping: {reply['response']}")

        beats = asyncio.create_task(heartbeat(ws, next_ref, args.heartbeat))
        try:
            for i in range(args.count):
                # {"ack_phrase": ...} is echoed back; an empty payload gets {"ping": "pong"}.
                payload = {"ack_phrase": f"hello #{i + 1}"} if i % 2 else {}
                ref = next_ref()
                await send(ws, [join_ref, ref, "ping", "ping", payload])
                reply = await reply_to(ws, ref)
                print(f"  ping {i + 1}: {reply['status']} {json.dumps(reply['response'])}", flush=True)
                if i + 1 < args.count:
                    await asyncio.sleep(args.interval)   # heartbeat replies print here too, if one is due
        finally:
            beats.cancel()

        # Leave politely: the server replies ok, then closes the channel (phx_close).
        ref = next_ref()
        await send(ws, [join_ref, ref, "ping", "phx_leave", {}])
        await reply_to(ws, ref)


if __name__ == "__main__":
    asyncio.run(main())
