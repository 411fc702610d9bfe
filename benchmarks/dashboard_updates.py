"""Dashboard figures in headless Chromium: updates/s, slider latency, first frame, N sessions.

    python benchmarks/dashboard_updates.py                 # ~2 minutes
    python benchmarks/dashboard_updates.py --minutes 10    # hold the N sessions for 10 minutes

Starts ``panel serve dashboard/app.py --warm`` (kernels compiled before it listens) and
measures, on scorpio with 2,000 walkers (the default session):

- **updates/s**: walker-cloud data changes applied in the page (``Bokeh.documents[0].on_change``
  events on the walker ColumnDataSource) over ``--seconds``, in the pipeline's tempering
  phase and in the diffusion stage; also all document changes/s and painted frames/s
  (``requestAnimationFrame`` callbacks, i.e. what the main thread had time to draw);
- **slider latency**: key press on the Step size slider -> the diagnostics strip shows the
  new value *as applied in the sampler* (browser -> server -> worker -> ``Sampler.update``
  -> snapshot -> browser), measured in the page;
- **first frame**: navigation -> walkers drawn (they come with the page), and -> the first
  live update of them, on a warm server;
- **updates/s per stage**: the same count in the Metropolis, tempering and exact-HMC stages
  (the diffusion stage above draws the walkers mid-sweep when a sweep is longer than a frame);
- **paint cost**: the page's main-thread time per walker-cloud update with the sampler paused
  (the page sets the walkers' data itself, one paint each): what the browser pays per frame,
  without the server's share of the cores;
- **Pause latency** during long diffusion sweeps: the seed-scorpio preset (5,000 walkers),
  its link reopened with ``LONG_STEPS`` steps a trajectory (~15 s a sweep; the preset's own
  5,000 steps take ~1.5 s since the kernels got faster, too short to press Pause in; the
  server's ``MDHMC_SESSION_WORK`` is raised to allow it): the Pause click -> the last walker
  update the page receives (the cloud moves during the sweep until then), over ``--pauses`` clicks;
- **N sessions** (``--sessions 0`` skips them): N pages at once; each page's walker updates/s, the CPU used by the server
  and by Chromium (the N pages render on the same cores as the server here), and the
  server's RSS before, during (sampled every 30 s) and after they close.

Writes ``test-artifacts/dashboard-bench.json``. The machine's load average is reported
with the numbers: on a shared 2-core machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from dashboard_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

WALKERS = "Bokeh.documents[0].get_model_by_name('mdhmc-cloud-walkers')"
#: Pause is measured in sweeps this long (x 5,000 walkers: ~15 s a sweep here, within the
#: session work bound the benchmark's server is given: ``MDHMC_SESSION_WORK``)
LONG_STEPS = 50_000
READY = f"() => window.Bokeh && Bokeh.documents.length > 0 && {WALKERS} && {WALKERS}.data.x.length > 0"

COUNTERS = """() => {
  window.__n = {walkers: 0, all: 0, raf: 0};
  Bokeh.documents[0].on_change(ev => {
    window.__n.all++;
    if (ev.model && ev.model.name === 'mdhmc-cloud-walkers') window.__n.walkers++;
  });
  const loop = () => { window.__n.raf++; requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
}"""

LATENCY = r"""() => {
  window.__lat = []; window.__cur = null; window.__t0 = null;
  document.addEventListener('keydown', () => { window.__t0 = performance.now(); window.__from = window.__cur; }, true);
  const strip = Bokeh.documents[0].get_model_by_name('mdhmc-strip');
  // the strip's text arrives on a data source in its tags (dashboard/figures.py, Text(live=True))
  const carrier = strip.tags[0];
  const read = () => { const r = /applied-step-size\D*?([0-9]+\.[0-9]+)/.exec(carrier.tags[0]); return r ? r[1] : null; };
  window.__cur = read();
  Bokeh.documents[0].on_change(ev => {
    if (ev.model !== carrier) return;
    const v = read(); window.__cur = v;
    if (window.__t0 != null && v !== window.__from) {
      window.__lat.push(performance.now() - window.__t0); window.__t0 = null;
    }
  });
}"""


class _Done(Exception):
    """The N-sessions part was skipped (``--sessions 0``)."""


def load() -> float:
    return os.getloadavg()[0]


def cpu_seconds(pred) -> float:
    """CPU time (user + system) of the processes whose (pid, command line) satisfy ``pred``."""
    tot = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = stat.parent.name
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if pred(pid, cmd):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                tot += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return tot / os.sysconf("SC_CLK_TCK")


def new_page(browser, url: str, viewport=(1600, 1200)):
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(READY, timeout=120_000, polling="raf")
    return ctx, page, time.perf_counter() - t0


def count(page, seconds: float) -> dict:
    page.evaluate(COUNTERS)
    time.sleep(seconds)
    n = page.evaluate("window.__n")
    return {k: v / seconds for k, v in n.items()}


def wait_phase(page, phase: str, timeout: float = 60):
    page.wait_for_function(
        f"() => Bokeh.documents[0].get_model_by_name('mdhmc-strip').text.includes('· {phase}')",
        timeout=timeout * 1000)


def latency(page, presses: int) -> dict:
    """Step size slider: key press -> the strip shows the value the sampler applied (ms)."""
    page.evaluate(LATENCY)
    handle = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text="Step size")) \
        .locator(".noUi-handle").first
    handle.focus()
    for k in range(presses):
        page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        time.sleep(0.6)
    lat = sorted(page.evaluate("window.__lat"))
    if not lat:
        return {"n": 0, "of": presses}
    return {"median": round(statistics.median(lat), 1), "p90": round(lat[int(0.9 * (len(lat) - 1))], 1),
            "max": round(lat[-1], 1), "under_150ms": sum(x < 150 for x in lat), "n": len(lat), "of": presses,
            "load": round(load(), 2)}


PAUSE = r"""() => {
  window.__last = 0;
  Bokeh.documents[0].on_change(ev => {
    if (ev.model && ev.model.name === 'mdhmc-cloud-walkers') window.__last = performance.now();
  });
}"""


PAINT = """async (n) => {
  const src = Bokeh.documents[0].get_model_by_name('mdhmc-cloud-walkers');
  const x0 = Array.from(src.data.x), y0 = Array.from(src.data.y);
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  for (let k = 0; k < n; k++) {
    const x = new Float32Array(x0.length), y = new Float32Array(y0.length);
    for (let i = 0; i < x.length; i++) { x[i] = x0[i] + 0.05 * Math.sin(k + i); y[i] = y0[i] + 0.05 * Math.cos(1.3 * k + i); }
    src.data = {...src.data, x: x, y: y};
    await frame(); await frame();
  }
}"""


def paint_cost(ctx, page, updates: int = 150, reps: int = 3) -> dict:
    """The page's main-thread time per walker-cloud update, without the server: Pause, then the
    page itself sets the walkers' data ``updates`` times, one paint each (Chrome's TaskDuration,
    ms per update; the median of ``reps``)."""
    page.get_by_role("button", name="Pause").click()
    time.sleep(1.0)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable")

    def task_s() -> float:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}["TaskDuration"]

    ms = []
    for _ in range(reps):
        t0 = task_s()
        page.evaluate(PAINT, updates)
        ms.append(1000 * (task_s() - t0) / updates)
    return {"median_ms": round(statistics.median(ms), 2), "all_ms": [round(x, 2) for x in ms], "updates": updates,
            "load": round(load(), 2)}


def pause_latency(page, clicks: int) -> dict:
    """seed-scorpio with ``LONG_STEPS`` steps a trajectory (long diffusion sweeps): Pause click
    -> last walker update received (ms)."""
    page.get_by_text("Presets", exact=True).click()
    page.locator("select").filter(has_text="Seed: the thread").first.select_option(label="Seed: the thread's Scorpio run")
    page.get_by_role("button", name="Load preset").click()
    page.locator(".mdhmc-alert.success").first.wait_for(timeout=60_000)
    # the preset's own sweep (5,000 walkers x 5,000 steps) now takes ~1.5 s on two cores and is
    # over before a Pause: reopen its link with longer trajectories, as a lecturer would
    url = urlsplit(page.url)
    query = dict(parse_qsl(url.query))
    assert query.get("steps") == "5000", f"not the seed-scorpio link: {page.url}"
    query["steps"] = str(LONG_STEPS)
    page.goto(urlunsplit(url._replace(query=urlencode(query))))
    page.wait_for_function(READY, timeout=120_000, polling="raf")
    page.evaluate(PAUSE)
    lat, moving = [], []
    for _ in range(clicks):
        page.get_by_role("button", name="Play").click()
        # mid-sweep: the strip says how much of the sweep is done
        page.wait_for_function("() => /[0-9] · [0-9]+ %/.test(Bokeh.documents[0].get_model_by_name('mdhmc-strip').text)",
                               timeout=60_000)
        n0 = page.evaluate("window.__last")
        time.sleep(1.0)
        moving.append(page.evaluate("window.__last") > n0)  # the cloud moves during the sweep
        t_click = page.evaluate("performance.now()")
        page.get_by_role("button", name="Pause").click()
        time.sleep(2.0)
        lat.append(max(0.0, page.evaluate("window.__last") - t_click))
    lat.sort()
    return {"median": round(statistics.median(lat), 1), "max": round(lat[-1], 1), "all": [round(x) for x in lat],
            "under_300ms": sum(x < 300 for x in lat), "cloud_moved_mid_sweep": sum(moving), "n": len(lat),
            "load": round(load(), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="counting window for updates/s")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=1.0, help="how long to hold the N sessions")
    ap.add_argument("--presses", type=int, default=20, help="slider key presses for the latency")
    ap.add_argument("--pauses", type=int, default=5, help="Pause clicks during seed-scorpio's long sweeps")
    ap.add_argument("--skip-first", action="store_true", help="skip the first-frame measurement")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    out: dict = {"walkers": 2000, "target": "scorpio", "cpus": os.cpu_count()}
    t0 = time.perf_counter()
    # Bokeh's default session lifetime (15 s): ten pages loading at once take a few seconds
    # a session may sweep 5,000 walkers x LONG_STEPS x 2 (the Pause measurement's long sweeps)
    os.environ.setdefault("MDHMC_SESSION_WORK", str(int(5000 * LONG_STEPS * 2)))
    server = start_server(ARTIFACTS / "dashboard-bench-server.log", warm="scorpio", session_lifetime_ms=15000)
    out["server_start_s"] = round(time.perf_counter() - t0, 1)
    time.sleep(2)
    out["rss_idle_mb"] = round(server.rss_mb(), 1)
    print(f"server up in {out['server_start_s']} s, RSS {out['rss_idle_mb']} MiB, load {load():.2f}", flush=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            # first frame (warm server), three fresh pages one after another: the walkers drawn
            # (they come with the page), then the first live update of them
            firsts, lives = [], []
            for _ in range(0 if args.skip_first else 3):
                t0 = time.perf_counter()
                ctx, page, dt = new_page(browser, server.url)
                page.evaluate(COUNTERS)
                page.wait_for_function("() => window.__n.walkers > 0", timeout=120_000, polling="raf")
                firsts.append(dt)
                lives.append(time.perf_counter() - t0)
                ctx.close()
                time.sleep(1.5)
            if firsts:
                out["first_frame_s"] = {"median": round(statistics.median(firsts), 2),
                                        "all": [round(x, 2) for x in firsts]}
                out["first_live_update_s"] = {"median": round(statistics.median(lives), 2),
                                              "all": [round(x, 2) for x in lives]}
                print(f"first frame: {out['first_frame_s']}; first live update: {out['first_live_update_s']}",
                      flush=True)

            # updates/s: the default pipeline, once in its tempering phase
            ctx, page, _ = new_page(browser, server.url)
            wait_phase(page, "tempering")
            time.sleep(1.0)
            la = load()
            r = count(page, args.seconds)
            out["updates_tempering"] = {"walker_updates_per_s": round(r["walkers"], 1),
                                        "doc_changes_per_s": round(r["all"], 1),
                                        "painted_frames_per_s": round(r["raf"], 1), "load": round(la, 2)}
            print(f"updates (pipeline, tempering phase): {out['updates_tempering']}", flush=True)

            # slider latency in the same page (tempering: sweeps of a few ms)
            out["slider_latency_ms"] = latency(page, args.presses)
            print(f"slider latency (key -> applied value shown): {out['slider_latency_ms']}", flush=True)
            ctx.close()

            # diffusion stage: one trajectory of 100 steps per walker per sweep
            ctx, page, _ = new_page(browser, server.url + "?stage=diffusion")
            time.sleep(1.0)
            r = count(page, args.seconds)
            out["updates_diffusion"] = {"walker_updates_per_s": round(r["walkers"], 1),
                                        "doc_changes_per_s": round(r["all"], 1),
                                        "painted_frames_per_s": round(r["raf"], 1), "load": round(load(), 2)}
            print(f"updates (diffusion stage): {out['updates_diffusion']}", flush=True)
            out["slider_latency_diffusion_ms"] = latency(page, args.presses)
            print(f"slider latency, diffusion stage (sweeps of ~0.1 s): {out['slider_latency_diffusion_ms']}", flush=True)
            out["paint_cost_diffusion"] = paint_cost(ctx, page)
            print(f"paint cost (page's main thread per walker update, sampler paused): {out['paint_cost_diffusion']}",
                  flush=True)
            ctx.close()

            for stage in ("metropolis", "tempering", "hmc"):
                ctx, page, _ = new_page(browser, server.url + f"?stage={stage}")
                time.sleep(1.0)
                r = count(page, args.seconds)
                out[f"updates_{stage}_stage"] = {"walker_updates_per_s": round(r["walkers"], 1),
                                                 "doc_changes_per_s": round(r["all"], 1),
                                                 "painted_frames_per_s": round(r["raf"], 1), "load": round(load(), 2)}
                print(f"updates ({stage} stage): {out[f'updates_{stage}_stage']}", flush=True)
                ctx.close()

            ctx, page, _ = new_page(browser, server.url)
            out["pause_latency_ms"] = pause_latency(page, args.pauses)
            print(f"Pause latency, seed-scorpio (click -> last walker update): {out['pause_latency_ms']}", flush=True)
            ctx.close()
            time.sleep(3)

            # N sessions at once
            n = args.sessions
            if n <= 0:
                browser.close()
                raise _Done
            rss_before = server.rss_mb()
            pages = []
            for k in range(n):
                ctx, page, dt = new_page(browser, server.url + f"?seed={k + 1}", viewport=(1400, 1000))
                pages.append((ctx, page))
            for _, page in pages:
                page.evaluate(COUNTERS)
            spid = str(server.proc.pid)
            cpu0 = (cpu_seconds(lambda pid, cmd: pid == spid), cpu_seconds(lambda pid, cmd: "chrom" in cmd))
            rss_series = []
            t_end = time.perf_counter() + 60 * args.minutes
            t_first = time.perf_counter()
            while True:
                rss_series.append((round(time.perf_counter() - t_first), round(server.rss_mb(), 1)))
                left = t_end - time.perf_counter()
                if left <= 0:
                    break
                time.sleep(min(30.0, left))
            held = time.perf_counter() - t_first
            cpu1 = (cpu_seconds(lambda pid, cmd: pid == spid), cpu_seconds(lambda pid, cmd: "chrom" in cmd))
            rates = [page.evaluate("window.__n.walkers") / held for _, page in pages]
            # every page still changing at the end (walker updates counted again over 10 s)
            before = [page.evaluate("window.__n.walkers") for _, page in pages]
            time.sleep(10)
            moving = sum(1 for (_, page), b in zip(pages, before, strict=True) if page.evaluate("window.__n.walkers") > b)
            for ctx, _ in pages:
                ctx.close()
            closed_t = time.perf_counter()
            while time.perf_counter() - closed_t < 30 and server.log().count("worker stopped") < server.log().count(
                    "opened ("):
                time.sleep(0.5)
            time.sleep(2)
            out["sessions"] = {
                "n": n, "held_s": round(held), "walker_updates_per_s_each": [round(x, 1) for x in rates],
                "min_per_s": round(min(rates), 1), "total_per_s": round(sum(rates), 1),
                "server_cpu_percent": round(100 * (cpu1[0] - cpu0[0]) / held),
                "chromium_cpu_percent": round(100 * (cpu1[1] - cpu0[1]) / held),
                "pages_still_updating": moving, "rss_before_mb": round(rss_before, 1),
                "rss_series_mb": rss_series, "rss_after_close_mb": round(server.rss_mb(), 1),
                "sessions_stopped": server.log().count("worker stopped"), "load": round(load(), 2)}
            print(f"{n} sessions: {out['sessions']}", flush=True)
            browser.close()
    except _Done:
        pass
    finally:
        stop_server(server)
    path = ARTIFACTS / "dashboard-bench.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
