"""Issue 15: one link can't occupy the server.

A session's settings are clipped to its budget (`dashboard.budget`), a long sweep stops
between blocks of walkers when the page pauses or closes, the server turns away the page
over its session cap, and page closes leave no traceback in the server log.
"""

from __future__ import annotations

import re
import time

import pytest

from dashboard_helpers import ARTIFACTS, start_server, stop_server
from test_dashboard_browser import Page, js_model

from mdhmc.dashboard import budget
from mdhmc.dashboard.controls import Controls

HUGE = "?walkers=1000000&steps=10000000"


# ------------------------------------------------------------------ the budget (no browser)
def test_a_huge_link_is_clipped_to_the_budget_and_named():
    c = Controls(walkers=1_000_000, steps=10_000_000)
    assert c.walkers * 2 <= budget.MAX_WALKER_COORDS
    assert c.walkers * c.steps * 2 <= budget.MAX_SWEEP_WORK
    assert "walkers clipped to" in c.notice and "steps clipped to" in c.notice
    assert c.settings().steps == c.steps


def test_a_widget_change_over_the_budget_clips_that_setting():
    c = Controls()
    c.steps = 10_000_000
    assert c.steps == budget.MAX_SWEEP_WORK // (c.walkers * 2)
    assert c.notice.startswith("steps clipped to")
    c.notice = ""
    c.steps = 100
    c.walkers = 1_000_000  # only walkers changed: walkers give way, steps stay
    assert c.steps == 100 and c.walkers * 100 * 2 <= budget.MAX_SWEEP_WORK
    assert c.notice.startswith("walkers clipped to")


def test_settings_within_the_budget_are_left_alone():
    c = Controls(walkers=5000, steps=500)
    assert (c.walkers, c.steps, c.notice) == (5000, 500, "")


def test_a_preset_over_the_budget_is_clipped():
    c = Controls()
    c.apply_preset('{"settings": {"walkers": 1000000, "hmc_steps": 100000}}')
    assert c.walkers * c.hmc_steps * 2 <= budget.MAX_SWEEP_WORK
    assert "clipped" in c.notice


# ------------------------------------------------------------------ the browser
def _sweep(p: Page) -> int:
    m = re.search(r'mdhmc-sweep"[^>]*><div class="mdhmc-v">([\d,]+)<', p.js(f"{js_model('mdhmc-strip')}.text"))
    return int(m.group(1).replace(",", "")) if m else -1


def _wait_log(server, pattern: str, start: int, timeout: float) -> re.Match | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(pattern, server.log()[start:])
        if m:
            return m
        time.sleep(0.2)
    return None


@pytest.mark.browser
def test_a_huge_link_is_clipped_and_the_other_page_keeps_running(browser, dashboard_server):
    other = Page(browser, dashboard_server)
    huge = Page(browser, dashboard_server, HUGE)
    try:
        err = huge.page.locator(".mdhmc-alert.danger", has_text="clipped")
        err.wait_for(timeout=60_000)
        assert "walkers clipped to" in err.inner_text() and "steps clipped to" in err.inner_text()
        seen, x = 0, other.walkers()
        end = time.monotonic() + 120
        while seen < 5 and time.monotonic() < end:
            time.sleep(0.2)
            y = other.walkers()
            seen += y != x
            x = y
        assert seen >= 5, "the default page stopped updating beside the huge one"
        start = len(dashboard_server.log())
        huge.close()
        # the server drops the session 10 s after its page closed; then only `other` is live
        m = _wait_log(dashboard_server, r"closed; worker stopped in ([\d.]+) s \(1 live", start, 90)
        assert m, dashboard_server.log()[-3000:]
    finally:
        other.close()


@pytest.mark.browser
def test_page_closes_leave_no_traceback_in_the_server_log(browser, dashboard_server):
    start = len(dashboard_server.log())
    for k in range(20):
        p = Page(browser, dashboard_server, "?seed=%d" % k)
        p.close()
    time.sleep(15)  # the server drops closed sessions after 10 s
    tail = dashboard_server.log()[start:]
    assert "Traceback" not in tail, tail[-3000:]
    assert "Task exception was never retrieved" not in tail, tail[-3000:]


@pytest.mark.browser
def test_pause_stops_a_long_diffusion_sweep(browser, dashboard_server):
    # ~8e7 coordinate-steps per sweep: tens of seconds on two shared cores
    p = Page(browser, dashboard_server, "?stage=diffusion&steps=20000&walkers=2000")
    try:
        time.sleep(2.0)  # into the first sweep
        before, count = p.walkers(), _sweep(p)
        t0 = time.monotonic()
        p.page.get_by_role("button", name="Pause").click()
        # the unfinished sweep is published (the finished blocks moved) and not counted; frames
        # already on their way still arrive: the latency is to the last change of the cloud
        p.wait(f"{js_model('mdhmc-cloud-walkers')}.data.x.some((v, i) => v !== {before!r}[i])", 30)
        last, changed_at, end = p.walkers(), time.monotonic(), time.monotonic() + 30
        while time.monotonic() - changed_at < 1.5 and time.monotonic() < end:
            time.sleep(0.1)
            now = p.walkers()
            if now != last:
                last, changed_at = now, time.monotonic()
        latency = changed_at - t0
        # (-1: the strip had no sweep count yet -- inside the first sweep, which stays uncounted)
        assert _sweep(p) == max(count, 0), "the sweep ran to its end after Pause"
        # the toggle in force is shown pressed
        pressed = {name: p.page.get_by_role("button", name=name).evaluate("e => e.classList.contains('bk-active')")
                   for name in ("Play", "Pause")}
        assert pressed == {"Play": False, "Pause": True}
        x = p.walkers()
        time.sleep(2.0)
        assert p.walkers() == x
        (ARTIFACTS / "pause-latency.txt").write_text(f"pause during a long diffusion sweep: {latency:.2f} s\n")
    finally:
        p.close()


@pytest.fixture
def capped_server(target_files, monkeypatch):
    monkeypatch.setenv("MDHMC_MAX_SESSIONS", "1")
    server = start_server(ARTIFACTS / "dashboard-capped-server.log", target_files, warm="scorpio")
    # the --warm run's session and start_server's GET of the page hold the one slot until the
    # server drops them (10 s unconnected)
    end = time.monotonic() + 60
    while server.log().count("closed; worker") < 2 and time.monotonic() < end:
        time.sleep(0.2)
    yield server
    stop_server(server)


@pytest.mark.browser
def test_the_page_over_the_session_cap_says_the_server_is_full(browser, capped_server):
    first = Page(browser, capped_server)
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(capped_server.url)
        full = page.locator(".mdhmc-server-full")
        full.wait_for(timeout=60_000)
        assert "at most 1 sessions" in full.inner_text()
        assert "server full" in capped_server.log()
    finally:
        ctx.close()
        first.close()


def test_serve_max_sessions_reaches_the_app(monkeypatch, capsys):
    from mdhmc.sampler import cli
    from mdhmc.sampler.cli import serve

    seen = {}
    monkeypatch.setattr(serve.os, "execve", lambda exe, cmd, env: seen.update(env=env))
    monkeypatch.setattr(serve, "_port_free", lambda address, port: True)
    assert cli.main(["serve", "--no-show", "--max-sessions", "3"]) == 0
    assert seen["env"]["MDHMC_MAX_SESSIONS"] == "3"
    assert cli.main(["serve", "--no-show", "--max-sessions", "0"]) != 0
    assert "--max-sessions: must be at least 1" in capsys.readouterr().err
