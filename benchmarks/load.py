"""Load benchmark: a room of students and a presenter's audience against one dashboard server.

    python benchmarks/load.py [--sessions 20] [--viewers 50] [--seconds 20] [--client bokeh|chromium]

Starts ``panel serve dashboard/app.py --warm`` and drives it with ``--sessions`` independent
sessions, then ``--viewers`` read-only viewers of the first session (``?watch=<id>``). The
clients are headless Bokeh clients by default (`benchmarks/bokeh_clients.py`: every document
change a page would receive, counted, nothing painted -- students' laptops paint their own
pages, so 20 Chromium tabs painting on the server's two cores would measure Chromium), or
pages in one headless Chromium (``--client chromium``; each page counts, in the browser, the
updates of the walker cloud's data source that reached it). For each phase it reports the updates per second of the
slowest and the median page and the server's CPU time per session
(utime + stime from /proc, over the measuring window), and its resident memory.
"""

from __future__ import annotations

import argparse
import json
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


def drive_clients(server, n: int, seconds: float, query: str = "", per_process: int = 5,
                  settle: float = 8.0) -> dict:
    """``n`` headless Bokeh clients in processes of ``per_process`` (one GIL each), counted together
    over ``seconds``, from ``settle`` seconds after the server has opened all ``n`` sessions."""
    import json
    import subprocess
    import tempfile

    start_file = Path(tempfile.mkdtemp(prefix="mdhmc-load-")) / "start"
    procs = []
    for k in range(0, n, per_process):
        m = min(per_process, n - k)
        cmd = [sys.executable, "-m", "benchmarks.bokeh_clients", server.url, "--clients", str(m),
               "--start-file", str(start_file), "--seconds", str(seconds), "--query", query.lstrip("?")]
        procs.append(subprocess.Popen(cmd, cwd=str(REPO), stdout=subprocess.PIPE, text=True))
    # count from when every client holds its page, plus ``settle``: building a page takes the
    # server's main thread seconds, and frames counted while others are still built measure that
    t_open = time.monotonic()
    while time.monotonic() < t_open + 600 and sum(int(f.read_text() or 0) for f in
                                                  start_file.parent.glob("start.ready-*")) < n:
        time.sleep(0.2)
    build_s = time.monotonic() - t_open
    start_at = time.time() + settle
    start_file.write_text(repr(start_at))
    time.sleep(max(0.0, start_at - time.time()))
    c0, t0 = cpu_s(server.proc.pid), time.monotonic()
    k0 = sum(cpu_s(pr.pid) for pr in procs)
    time.sleep(seconds)
    cpu, dt = cpu_s(server.proc.pid) - c0, time.monotonic() - t0
    clients_cpu = (sum(cpu_s(pr.pid) for pr in procs) - k0) / dt  # they share the server's machine
    rss = server.rss_mb()
    rates, failed = [], []
    for pr in procs:
        out, _ = pr.communicate(timeout=600)
        res = json.loads(out.strip().splitlines()[-1])
        rates += res["updates_per_s"]
        failed += res["failed"]
    rates.sort()
    return {"clients": n, "min_updates_per_s": rates[0], "median_updates_per_s": rates[len(rates) // 2],
            "server_cpu_per_s": cpu / dt, "server_cpu_per_session": cpu / dt / n, "rss_mb": rss,
            "failed": failed, "open_all_s": build_s, "clients_cpu_per_s": clients_cpu, "sessions": []}


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
    ap.add_argument("--client", choices=("bokeh", "chromium"), default="bokeh")
    args = ap.parse_args(argv)
    result = {"client": args.client, "load_before": os.getloadavg()[0]}
    if args.client == "bokeh":
        # a Bokeh client sends no "document ready" event: start its session's sampler at once
        os.environ["MDHMC_ONLOAD_GRACE_S"] = "0"
    server = start_server(ARTIFACTS / "load-server.log", warm="scorpio", timeout=900)
    pw = browser = None
    if args.client == "chromium":
        from playwright.sync_api import sync_playwright

        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def run(n, query=""):
        if args.client == "bokeh":
            return drive_clients(server, n, args.seconds, query)
        return drive(browser, server, n, args.seconds, query)

    try:
        room = run(args.sessions)
        print(f"{args.sessions} sessions: updates/s per page min {room['min_updates_per_s']:.1f}, median "
              f"{room['median_updates_per_s']:.1f}; server CPU {room['server_cpu_per_s']:.2f} cores "
              f"({room['server_cpu_per_session'] * 1000:.0f} ms/s per session); RSS {room['rss_mb']:.0f} MiB"
              + (f"; all pages open after {room['open_all_s']:.0f} s" if "open_all_s" in room else "")
              + (f"; failed: {room['failed']}" if room.get("failed") else ""), flush=True)
        ids = [int(m) for m in re.findall(r"session (\d+) opened", server.log())]
        presenter = ids[-args.sessions] if len(ids) >= args.sessions else ids[-1]
        if args.client == "chromium":
            close(room["sessions"][1:])
            keep = room["sessions"][:1]
        else:  # the clients left with their processes; the presenter: one more client, kept open
            import subprocess

            keep = [subprocess.Popen([sys.executable, "-m", "benchmarks.bokeh_clients", server.url, "--clients", "1",
                                      "--settle", "3600", "--seconds", "1"], cwd=str(REPO), stdout=subprocess.DEVNULL)]
            end = time.monotonic() + 120
            while time.monotonic() < end and len(re.findall(r"session (\d+) opened", server.log())) <= len(ids):
                time.sleep(0.5)
            presenter = int(re.findall(r"session (\d+) opened", server.log())[-1])
        time.sleep(3)
        watch = run(args.viewers, f"?watch={presenter}")
        print(f"{args.viewers} viewers of session {presenter}: updates/s per page min "
              f"{watch['min_updates_per_s']:.1f}, median {watch['median_updates_per_s']:.1f}; server CPU "
              f"{watch['server_cpu_per_s']:.2f} cores ({watch['server_cpu_per_session'] * 1000:.0f} ms/s per viewer); "
              f"RSS {watch['rss_mb']:.0f} MiB"
              + (f"; all pages open after {watch['open_all_s']:.0f} s" if "open_all_s" in watch else "") + (f"; failed: {watch['failed']}" if watch.get("failed") else ""),
              flush=True)
        if args.client == "chromium":
            close(watch["sessions"])
            close(keep)
        else:
            for pr in keep:
                pr.kill()
        time.sleep(15)
        live = re.findall(r"\((\d+) live, (\d+) open", server.log())
        after = {}
        if live:
            after = {"live": int(live[-1][0]), "open": int(live[-1][1]), "rss_mb": server.rss_mb()}
            print(f"after closing every page: {live[-1][0]} live, {live[-1][1]} open sessions; "
                  f"RSS {after['rss_mb']:.0f} MiB", flush=True)
        for part in (room, watch):
            part.pop("sessions", None)
        result.update(room=room, viewers=watch, after=after, load_after=os.getloadavg()[0])
        out = ARTIFACTS / "load-bench.json"
        out.write_text(json.dumps(result, indent=1))
        print(f"load average {result['load_before']:.1f} before, {result['load_after']:.1f} after; wrote {out}")
    finally:
        if browser is not None:
            browser.close()
            pw.stop()
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
