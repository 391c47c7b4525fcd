#!/usr/bin/env python3
"""Join a room of the chat example, say something, and print what arrives.

    hello-sockets --channels examples/chat/channels --public examples/chat/public   # the server
    python3 -m pip install websockets
    python3 examples/python/chat_client.py --name ada --message 'hello, room'

Stays in the room (Ctrl-C to quit) unless --listen SECONDS says how long to listen.
"""
import argparse
import asyncio
import json

import websockets


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0")
    parser.add_argument("--room", default="lobby")
    parser.add_argument("--name", required=True)
    parser.add_argument("--message", help="a message to send once joined")
    parser.add_argument("--listen", type=float, help="seconds to listen before leaving (default: until Ctrl-C)")
    args = parser.parse_args()

    topic = f"room:{args.room}"
    refs = iter(range(1, 1_000_000))
    next_ref = lambda: str(next(refs))

    async with websockets.connect(args.url) as ws:
        async def send(join_ref, ref, topic, event, payload):
            await ws.send(json.dumps([join_ref, ref, topic, event, payload]))

        async def heartbeats():
            while True:   # Phoenix expects one at least every 60 s; phoenix.js sends one every 30 s
                await asyncio.sleep(30)
                await send(None, next_ref(), "phoenix", "heartbeat", {})

        join_ref = next_ref()
        await send(join_ref, join_ref, topic, "phx_join", {"name": args.name})
        message_ref = None
        # Who is here, kept as phoenix.js's Presence keeps it: name -> phx_refs of its metas (one per tab).
        # Diffs that arrive before the presence_state of our join wait for it.
        here, pending, synced = {}, [], False

        def apply_diff(diff):
            for name, presence in diff["joins"].items():
                refs = [meta["phx_ref"] for meta in presence["metas"]]
                here[name] = [r for r in here.get(name, []) if r not in refs] + refs
            for name, presence in diff["leaves"].items():
                gone = {meta["phx_ref"] for meta in presence["metas"]}
                left = [r for r in here.get(name, []) if r not in gone]
                if left:
                    here[name] = left
                else:
                    here.pop(name, None)

        async def listen():
            nonlocal message_ref, synced
            async for text in ws:
                _, ref, _, event, payload = json.loads(text)
                if event == "phx_reply" and ref == join_ref:
                    if payload["status"] != "ok":
                        raise SystemExit(f"could not join {topic}: {payload['response']}")
                    print(f"joined {topic} as {payload['response']['name']}", flush=True)
                    if args.message:
                        message_ref = next_ref()
                        await send(join_ref, message_ref, topic, "new_msg", {"body": args.message})
                elif event == "phx_reply" and ref == message_ref and payload["status"] != "ok":
                    print(f"not sent: {payload['response']}", flush=True)
                elif event == "new_msg":
                    print(f"{payload['user']}: {payload['body']}", flush=True)
                elif event == "presence_state":
                    here.clear()
                    here.update({name: [m["phx_ref"] for m in p["metas"]] for name, p in payload.items()})
                    for diff in pending:
                        apply_diff(diff)
                    pending.clear()
                    synced = True
                    print("here now:", ", ".join(sorted(here)), flush=True)
                elif event == "presence_diff" and not synced:
                    pending.append(payload)
                elif event == "presence_diff":
                    before = sorted(here)
                    apply_diff(payload)
                    if sorted(here) != before:
                        print("here now:", ", ".join(sorted(here)), flush=True)

        beats = asyncio.create_task(heartbeats())
        try:
            await asyncio.wait_for(listen(), timeout=args.listen)   # timeout None: until Ctrl-C
        except asyncio.TimeoutError:
            pass   # --listen is over
        finally:
            beats.cancel()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
