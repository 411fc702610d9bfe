"""Load benchmark: a room of students and a presenter's audience against one dashboard server.

    python benchmarks/load.py [--sessions 20] [--viewers 50] [--seconds 20]

Starts ``panel serve dashboard/app.py --warm`` and drives it with pages in one headless
Chromium (each page counts, in the browser, the updates of the walker cloud's data source that
reached it): ``--sessions`` independent sessions, then ``--viewers`` read-only viewers of the
first session (``?watch=<id>``). For each phase it reports the updates per second of the
slowest and the median page and the server's CPU time per session
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

from dashboard_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

WALKERS = "mdhmc-cloud-walkers"


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


COUNT = """() => {
  window.__n = 0;
  Bokeh.documents[0].on_change(ev => { if (ev.model && ev.model.name === 'mdhmc-cloud-walkers') window.__n++; });
}"""
READY = ("() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].get_model_by_name('%s') && "
         "Bokeh.documents[0].get_model_by_name('%s').data.x.length > 0" % (WALKERS, WALKERS))


def drive(browser, server, n: int, seconds: float, query: str = "", settle: float = 8.0) -> dict:
    """Open ``n`` pages, let them settle, count the walker cloud's updates over ``seconds``."""
    pages = []
    for _ in range(n):
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.set_default_timeout(300_000)
        pg.goto(server.url + query, timeout=300_000)
        pages.append(pg)
    for pg in pages:
        pg.wait_for_function(READY, timeout=300_000, polling=200)
        pg.evaluate(COUNT)
    time.sleep(settle)
    before = [pg.evaluate("() => window.__n") for pg in pages]
    c0, t0 = cpu_s(server.proc.pid), time.monotonic()
    time.sleep(seconds)
    after = [pg.evaluate("() => window.__n") for pg in pages]
    dt = time.monotonic() - t0
    cpu = cpu_s(server.proc.pid) - c0
    rates = sorted((a - b) / dt for a, b in zip(after, before))
    return {"clients": n, "min_updates_per_s": rates[0], "median_updates_per_s": rates[n // 2],
            "server_cpu_per_s": cpu / dt, "server_cpu_per_session": cpu / dt / n, "rss_mb": server.rss_mb(),
            "sessions": pages}


def close(pages):
    for pg in pages:
        try:
            pg.close()
        except Exception:
            pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    server = start_server(ARTIFACTS / "load-server.log", warm="scorpio", timeout=900)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        room = drive(browser, server, args.sessions, args.seconds)
        print(f"{args.sessions} sessions: updates/s per page min {room['min_updates_per_s']:.1f}, median "
              f"{room['median_updates_per_s']:.1f}; server CPU {room['server_cpu_per_s']:.2f} cores "
              f"({room['server_cpu_per_session'] * 1000:.0f} ms/s per session); RSS {room['rss_mb']:.0f} MiB",
              flush=True)
        ids = [int(m) for m in re.findall(r"session (\d+) opened", server.log())]
        presenter = ids[-args.sessions] if len(ids) >= args.sessions else ids[-1]
        close(room["sessions"][1:])
        time.sleep(3)
        watch = drive(browser, server, args.viewers, args.seconds, query=f"?watch={presenter}")
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
        browser.close()
        pw.stop()
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
