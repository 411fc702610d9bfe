"""Load benchmark: a room of students and a presenter's audience against one dashboard server.

    python benchmarks/load.py [--sessions 20] [--viewers 50] [--seconds 20]

Starts ``panel serve dashboard/app.py --warm`` and drives it with Bokeh clients
(``bokeh.client.pull_session``, one websocket each, no browser: what is measured is the
server): ``--sessions`` independent sessions, then ``--viewers`` read-only viewers of the
first session (``?watch=<id>``). For each phase it reports the updates per second each client
received (updates of the walker cloud's data source) and the server's CPU time per session
(utime + stime from /proc, over the measuring window), and its resident memory.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from dashboard_helpers import ARTIFACTS, start_server, stop_server  # noqa: E402

WALKERS = "mdhmc-cloud-walkers"


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def drive(server, n: int, seconds: float, arguments: dict | None = None, settle: float = 8.0) -> dict:
    """Open ``n`` client sessions, let them settle, count updates over ``seconds``."""
    from bokeh.client import pull_session
    from tornado.ioloop import IOLoop

    loop = IOLoop.current()
    counts = [0] * n
    sessions = []
    for k in range(n):
        s = pull_session(url=server.url, io_loop=loop, arguments=arguments)

        def on_change(event, k=k):
            m = getattr(event, "model", None)
            if m is not None and getattr(m, "name", None) == WALKERS:
                counts[k] += 1

        s.document.on_change(on_change)
        sessions.append(s)
    loop.call_later(settle, loop.stop)
    loop.start()
    before = list(counts)
    c0, t0 = cpu_s(server.proc.pid), time.monotonic()
    loop.call_later(seconds, loop.stop)
    loop.start()
    dt = time.monotonic() - t0
    cpu = cpu_s(server.proc.pid) - c0
    rates = sorted((counts[k] - before[k]) / dt for k in range(n))
    out = {"clients": n, "min_updates_per_s": rates[0], "median_updates_per_s": rates[n // 2],
           "server_cpu_per_s": cpu / dt, "server_cpu_per_session": cpu / dt / n, "rss_mb": server.rss_mb(),
           "sessions": sessions}
    return out


def close(sessions):
    for s in sessions:
        try:
            s.close()
        except Exception:
            pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    os.environ["MDHMC_ONLOAD_GRACE_S"] = "0.5"  # a Bokeh client sends no 'document ready': start at once
    server = start_server(ARTIFACTS / "load-server.log", warm="scorpio")
    try:
        room = drive(server, args.sessions, args.seconds)
        print(f"{args.sessions} sessions: updates/s per page min {room['min_updates_per_s']:.1f}, median "
              f"{room['median_updates_per_s']:.1f}; server CPU {room['server_cpu_per_s']:.2f} cores "
              f"({room['server_cpu_per_session'] * 1000:.0f} ms/s per session); RSS {room['rss_mb']:.0f} MiB",
              flush=True)
        ids = [int(m) for m in re.findall(r"session (\d+) opened", server.log())]
        presenter = ids[0] if ids else 1
        close(room["sessions"][1:])
        time.sleep(3)
        watch = drive(server, args.viewers, args.seconds, arguments={"watch": str(presenter)})
        print(f"{args.viewers} viewers of session {presenter}: updates/s per page min "
              f"{watch['min_updates_per_s']:.1f}, median {watch['median_updates_per_s']:.1f}; server CPU "
              f"{watch['server_cpu_per_s']:.2f} cores ({watch['server_cpu_per_session'] * 1000:.0f} ms/s per viewer); "
              f"RSS {watch['rss_mb']:.0f} MiB", flush=True)
        close(watch["sessions"])
        close(room["sessions"][:1])
        time.sleep(12)
        live = re.findall(r"\((\d+) live, (\d+) open", server.log())
        if live:
            print(f"after closing every page: {live[-1][0]} live, {live[-1][1]} open sessions; "
                  f"RSS {server.rss_mb():.0f} MiB", flush=True)
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
