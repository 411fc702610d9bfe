"""Lecture mode in headless Chromium: every plot fits the window at projector sizes, the
animation replays the recorded trajectory in order, and the keyboard drives the sampler.

Plots are found by their Bokeh model names and measured with the browser's layout
(``getBoundingClientRect`` of the figure's view); screenshots go to ``test-artifacts/``.
No rates or timings are asserted: only waits.
"""

from __future__ import annotations

import re

import pytest

from dashboard_helpers import ARTIFACTS

pytestmark = pytest.mark.browser

SIZES = [(1280, 720), (1366, 768), (1920, 1080)]
#: tab -> the figures it shows; the walker cloud is always on screen
TABS = {"Energy": ["mdhmc-energy-fig", "mdhmc-herr-fig"], "Q-Q": ["mdhmc-qq-x-fig", "mdhmc-qq-y-fig"],
        "Temperatures": ["mdhmc-rungs-fig", "mdhmc-swaps-fig", "mdhmc-rung-trace-fig", "mdhmc-pairs-fig"],
        "Mass": ["mdhmc-mass-fig"]}
READY = ("() => window.Bokeh && Bokeh.documents.length > 0 && "
         "Bokeh.documents[0].get_model_by_name('mdhmc-cloud-walkers') && "
         "Bokeh.documents[0].get_model_by_name('mdhmc-cloud-walkers').data.x.length > 0")
RECT = """(name) => {
  const m = Bokeh.documents[0].get_model_by_name(name);
  if (!m) return null;
  for (const root of Object.values(Bokeh.index)) {
    const v = root.owner.find_one(m);
    if (v) { const r = v.el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
  }
  return null;
}"""


def model(name: str) -> str:
    return f"Bokeh.documents[0].get_model_by_name('{name}')"


def open_page(browser, server, size=(1366, 768), query=""):
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = ctx.new_page()
    page.set_default_timeout(180_000)  # a loaded 2-core machine: clicks can wait for a busy page
    page.goto(server.url + query, timeout=180_000)
    page.wait_for_function(READY, timeout=120_000, polling=100)
    return ctx, page


def click_tab(page, name: str):
    page.locator(".bk-tab", has_text=re.compile(f"^{re.escape(name)}$")).first.click()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_plot_fits_the_window(browser, dashboard_server, size):
    w, h = size
    ctx, page = open_page(browser, dashboard_server, size)
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        for tab, names in TABS.items():
            click_tab(page, tab)
            for name in ["mdhmc-cloud", *names]:
                page.wait_for_function(f"() => {{ const r = ({RECT})('{name}'); return r && r[2] - r[0] > 100 "
                                       f"&& r[3] - r[1] > 80; }}", timeout=90_000, polling=100)
                left, top, right, bottom = page.evaluate(RECT, name)
                assert left >= 0 and top >= 0 and right <= w + 0.5 and bottom <= h + 0.5, \
                    f"{name} at {w}x{h} (tab {tab}): box {(left, top, right, bottom)} leaves the window"
            page.screenshot(path=str(ARTIFACTS / f"lecture-{w}x{h}-{tab.lower().replace('-', '')}.png"))
        # nothing scrolls: the page is exactly the window
        sw, sh = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        assert sw <= w and sh <= h, f"the page scrolls at {w}x{h}: {sw}x{sh}"
    finally:
        ctx.close()


def test_large_text_and_hide_hot_rungs(browser, dashboard_server):
    ctx, page = open_page(browser, dashboard_server)
    try:
        size = page.evaluate(f"() => {model('mdhmc-cloud')}.title.text_font_size")
        page.get_by_role("button", name="Large text").click()
        page.wait_for_function(f"() => {model('mdhmc-cloud')}.title.text_font_size !== '{size}'", timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "lecture-large-text.png"))
        page.get_by_role("button", name="Hide hot").click()
        # the hot walkers' renderer is hidden, the cold one still drawn
        visible = f"""() => {{
          const src = {model('mdhmc-cloud-walkers')};
          return [...Bokeh.documents[0].all_models].filter(m => m.data_source === src).map(r => r.visible);
        }}"""
        page.wait_for_function(f"() => {{ const v = ({visible})(); return v.includes(false) && v.includes(true); }}",
                               timeout=90_000)
    finally:
        ctx.close()


def test_animation_replays_the_recorded_trajectory_in_order(browser, dashboard_server):
    ctx, page = open_page(browser, dashboard_server, query="?stage=diffusion")
    try:
        page.wait_for_function(f"() => {model('mdhmc-energy')}.data.step.length > 0", timeout=60_000)
        click_tab(page, "Animation")
        page.get_by_role("button", name="Animate").click()
        page.wait_for_function(f"() => {model('mdhmc-anim-recorded')}.data.x.length > 5", timeout=90_000)
        rec = page.evaluate(f"() => [Array.from({model('mdhmc-anim-recorded')}.data.x), "
                            f"Array.from({model('mdhmc-anim-recorded')}.data.y)]")
        n = len(rec[0])
        seen = []
        for k in (1, 3, 6, n):  # the animation reveals the points one after the other
            page.wait_for_function(f"() => {model('mdhmc-anim-points')}.data.x.length >= {min(k, n)}",
                                   timeout=120_000, polling=30)
            seen.append(page.evaluate(f"() => [Array.from({model('mdhmc-anim-points')}.data.x), "
                                      f"Array.from({model('mdhmc-anim-points')}.data.y), "
                                      f"Array.from({model('mdhmc-anim-points')}.data.i)]"))
        lengths = [len(s[0]) for s in seen]
        assert lengths == sorted(lengths) and lengths[0] < n and lengths[-1] == n, lengths
        for x, y, i in seen:  # each state is the recorded trajectory's beginning, in order
            k = len(x)
            assert x == rec[0][:k] and y == rec[1][:k]
            assert i == list(range(k))
        page.wait_for_function(f"() => {model('mdhmc-anim-drawn')}.data.x.length === 1", timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "lecture-animation.png"))
    finally:
        ctx.close()


def _sweep(page) -> int:
    text = page.evaluate(f"() => {model('mdhmc-strip')}.text")
    m = re.search(r'mdhmc-v">([\d,]+)</div><div class="mdhmc-l">sweep<', text, re.I)
    return int(m.group(1).replace(",", "")) if m else -1


def test_keyboard_space_pauses_arrow_steps_r_resets(browser, dashboard_server):
    ctx, page = open_page(browser, dashboard_server, query="?stage=tempering")
    try:
        page.wait_for_function(f"() => /sweep/i.test({model('mdhmc-strip')}.text)", timeout=90_000)
        page.wait_for_function(f"() => {{ const m = {model('mdhmc-strip')}.text.match(/mdhmc-v\">([\\d,]+)<\\/div>"
                               "<div class=\"mdhmc-l\">sweep</i); return m && parseInt(m[1].replace(/,/g, '')) > 3; }",
                               timeout=60_000)
        page.mouse.click(5, 5)  # the header: no widget has the focus
        page.keyboard.press(" ")  # pause: the server's answer shows as the Pause toggle pressed
        page.locator("button.bk-btn.bk-active", has_text="Pause").first.wait_for(timeout=120_000)
        # paused: the sweep count stops (read it until two reads a second apart agree)
        last, stable = _sweep(page), 0
        for _ in range(60):
            page.wait_for_timeout(1000)
            now = _sweep(page)
            stable = stable + 1 if now == last else 0
            last = now
            if stable >= 2:
                break
        assert stable >= 2, "Space did not pause the sampler"
        page.keyboard.press("ArrowRight")  # one sweep
        page.wait_for_function(f"() => {{ const m = {model('mdhmc-strip')}.text.match(/mdhmc-v\">([\\d,]+)<\\/div>"
                               f"<div class=\"mdhmc-l\">sweep</i); return m && parseInt(m[1].replace(/,/g, '')) "
                               f"=== {last + 1}; }}", timeout=90_000)
        page.keyboard.press("r")  # reset: back to sweep 0
        page.wait_for_function(f"() => {{ const m = {model('mdhmc-strip')}.text.match(/mdhmc-v\">([\\d,]+)<\\/div>"
                               "<div class=\"mdhmc-l\">sweep</i); return m && parseInt(m[1].replace(/,/g, '')) === 0; }",
                               timeout=90_000)
        page.keyboard.press(" ")  # play again
        page.wait_for_function(f"() => {{ const m = {model('mdhmc-strip')}.text.match(/mdhmc-v\">([\\d,]+)<\\/div>"
                               "<div class=\"mdhmc-l\">sweep</i); return m && parseInt(m[1].replace(/,/g, '')) > 0; }",
                               timeout=90_000)
        # an arrow key on a focused slider moves the slider: it is not the Step shortcut (which pauses)
        handle = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text="Step size")) \
            .locator(".noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Bokeh.documents[0].all_models && [...Bokeh.documents[0].all_models]"
                               ".some(m => m.title === 'Step size' && m.value > 0.0505)", timeout=60_000)
        before = _sweep(page)
        page.wait_for_function(f"() => {{ const m = {model('mdhmc-strip')}.text.match(/mdhmc-v\">([\\d,]+)<\\/div>"
                               f"<div class=\"mdhmc-l\">sweep</i); return m && parseInt(m[1].replace(/,/g, '')) "
                               f"> {before + 2}; }}", timeout=60_000)
    finally:
        ctx.close()
