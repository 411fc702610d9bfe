"""Headless Bokeh clients for `benchmarks/load.py`: N sessions of one dashboard URL, counted.

    python -m benchmarks.bokeh_clients URL --clients 10 --settle 8 --seconds 20 [--query watch=3]
    (`--start-file F`: count from the wall-clock time written to F once it appears, so that several
    processes count together, from when the driver has seen every session open)

Each client is a `bokeh.client.ClientSession` on its own thread and event loop: it receives
every message the server sends to a page and parses it (JSON, as a browser must), counts the
walker cloud's changes and answers each frame as shown (the page's half of
`dashboard/flow.py`) -- without drawing, and (default) without applying the changes to a
Python copy of the document: a browser does that on the student's laptop, and Python clients
doing it for 20 pages took the server machine's second core, so their late answers held the
server's frames back (the benchmark then measured the clients). ``--apply`` applies them.
Prints one JSON line: the walker cloud's updates/s of every client over ``--seconds``
(after ``--settle``). Used so that a room of 20 pages can be measured without 20 Chromium
tabs painting on the server's own two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qsl

WALKERS = "mdhmc-cloud-walkers"
FRAME_MODEL, ACK_MODEL = "mdhmc-frame", "mdhmc-frame-ack"  # dashboard/flow.py


def _client(url: str, arguments: dict, counts: list, i: int, ready: threading.Event, failed: list,
            apply: bool = False) -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    from bokeh.client import pull_session
    from tornado.ioloop import IOLoop

    try:
        session = pull_session(url=url, arguments=arguments, io_loop=IOLoop.current())
    except Exception as exc:  # one line in the report, the others go on
        failed.append(f"{type(exc).__name__}: {exc}")
        ready.set()
        return

    doc = session.document
    ack = doc.get_model_by_name(ACK_MODEL)

    def changed(event):
        model = getattr(event, "model", None)
        name = getattr(model, "name", None)
        if name == WALKERS:
            counts[i] += 1
        elif name == FRAME_MODEL and ack is not None and getattr(event, "attr", None) == "tags":
            ack.tags = list(model.tags)  # "shown": what a page does after its paint (dashboard/flow.py)

    if apply:
        session.document.on_change(changed)
    else:
        walkers, frame = doc.get_model_by_name(WALKERS), doc.get_model_by_name(FRAME_MODEL)
        ids = {walkers.id if walkers is not None else None: "walkers", frame.id if frame is not None else None: "frame"}

        def patched(message):  # the parsed PATCH-DOC: look at its events, build nothing
            for ev in message.content.get("events", ()):
                model = ev.get("model")
                kind = ids.get(model.get("id") if isinstance(model, dict) else None)
                if kind == "walkers":
                    counts[i] += 1
                elif kind == "frame" and ev.get("attr") == "tags" and ack is not None:
                    new = ev.get("new")
                    ack.tags = list(new) if isinstance(new, list) else []

        session._handle_patch = patched
    # what a page sends once it has rendered the document: until then Panel sends it no change
    # at all (a client that skips this receives nothing)
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import DocumentReady

    doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", DocumentReady()))
    ready.set()
    # receive until the process ends. Not with `loop_until_closed`: Bokeh's client state machine
    # awaits the next message from inside the handler of the last one (`_handle_messages` ->
    # `_next` -> `_handle_messages`), so each message nests deeper, and after ~1,000 messages
    # the RecursionError ends the client's loop silently: a page at 50 frames/s went dark
    # after 15 s. A flat loop over the same socket reader instead.
    conn = session._connection

    async def pump():
        while True:
            message = await conn._pop_message()
            if message is None:
                return
            if message.msgtype == "PATCH-DOC":
                session._handle_patch(message)

    IOLoop.current().run_sync(pump)


def _register_models() -> None:
    """The page's model types must be known here to read its document: Panel's, and those of the
    dashboard's own components (built when their classes are defined)."""
    import panel.models  # noqa: F401
    from panel.models import esm  # noqa: F401

    from mdhmc.dashboard import keys  # noqa: F401  (its JSComponent)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--settle", type=float, default=8.0)
    ap.add_argument("--start-file", default=None,
                    help="a file that will hold the wall-clock time (time.time()) the count starts")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--query", default="", help="page arguments, e.g. watch=3")
    ap.add_argument("--apply", action="store_true", help="apply every change to a Python copy of the document")
    args = ap.parse_args(argv)
    _register_models()
    arguments = dict(parse_qsl(args.query))
    counts = [0] * args.clients
    failed: list[str] = []
    events = []
    for i in range(args.clients):
        ready = threading.Event()
        threading.Thread(target=_client, args=(args.url, arguments, counts, i, ready, failed, args.apply),
                         daemon=True).start()
        events.append(ready)
    for e in events:
        e.wait(600)
    if args.start_file is None:
        time.sleep(args.settle)
    else:
        with open(f"{args.start_file}.ready-{os.getpid()}", "w") as f:  # the driver counts these
            f.write(str(args.clients))
        while not os.path.exists(args.start_file):
            time.sleep(0.1)
        time.sleep(0.2)  # written whole (one short write), then read
        with open(args.start_file) as f:
            start_at = float(f.read().strip())
        time.sleep(max(0.0, start_at - time.time()))
    before, t0 = list(counts), time.monotonic()
    time.sleep(args.seconds)
    after, dt = list(counts), time.monotonic() - t0
    rates = [(a - b) / dt for a, b in zip(after, before)]
    print(json.dumps({"clients": args.clients, "failed": failed, "updates_per_s": rates}), flush=True)
    sys.stdout.flush()
    os._exit(0)  # the client threads loop until their sessions close: leave without waiting


if __name__ == "__main__":
    sys.exit(main())
