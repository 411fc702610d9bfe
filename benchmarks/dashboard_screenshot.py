"""Take the README's screenshot of the running dashboard (``assets/dashboard.png``).

    python benchmarks/dashboard_screenshot.py [--out assets/dashboard.png] [--query "?stage=diffusion"]

Starts ``panel serve dashboard/app.py --warm``, opens the default session (the thread's
Scorpio target, pipeline, 2,000 walkers) in headless Chromium, lets it run into the
tempering phase and saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from dashboard_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "assets" / "dashboard.png"))
    ap.add_argument("--query", default="", help="URL query, e.g. '?stage=diffusion'")
    ap.add_argument("--seconds", type=float, default=15.0, help="run time before the shot")
    ap.add_argument("--width", type=int, default=1680)
    ap.add_argument("--height", type=int, default=1180)
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    server = start_server(ARTIFACTS / "dashboard-screenshot-server.log", warm="scorpio")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height}, device_scale_factor=1)
            page.goto(server.url + args.query)
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                                   "Bokeh.documents[0].get_model_by_name('mdhmc-cloud-walkers').data.x.length > 0",
                                   timeout=120_000)
            time.sleep(args.seconds)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        stop_server(server)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
