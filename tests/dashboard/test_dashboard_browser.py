"""The dashboard in headless Chromium, against ``panel serve dashboard/app.py --warm``.

Reads the page's Bokeh document directly (``Bokeh.documents[0].get_model_by_name``): the
walker cloud's data source is ``mdhmc-cloud-walkers``, the Q-Q sources ``mdhmc-qq-x`` and
``mdhmc-qq-y``, the swap history ``mdhmc-swaps``; the diagnostics strip echoes what the
sampler applied (``.applied-step-size``, ``.applied-viscosity-gain``: ``applied-`` and the setting's
name with dashes). Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import pytest
from mdhmc.sampler.settings import SPEC

from dashboard_helpers import ARTIFACTS

pytestmark = pytest.mark.browser

LOCAL = {"127.0.0.1", "localhost"}


def js_model(name: str) -> str:
    return f"Bokeh.documents[0].get_model_by_name('{name}')"


#: the tab that shows a model: only the open tab is in the page's document (layout.compose),
#: so a test reading one opens its tab first, as a user would
MODEL_TAB = {"mdhmc-energy": "Energy", "mdhmc-energy-means": "Energy", "mdhmc-delta-band": "Energy",
             "mdhmc-qq-x": "Q-Q", "mdhmc-qq-y": "Q-Q", "mdhmc-ks-x": "Q-Q", "mdhmc-ks-y": "Q-Q",
             "mdhmc-swaps": "Temperatures", "mdhmc-rungs": "Temperatures", "mdhmc-rung-trace": "Temperatures",
             "mdhmc-pair-acceptance": "Temperatures", "mdhmc-mass": "Mass"}


class Page:
    """A page on the dashboard with its console errors and non-local requests recorded."""

    def __init__(self, browser, server, query: str = "", viewport=(1600, 1200)):
        self.ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.external.append(r.url)
                     if urlparse(r.url).hostname not in LOCAL and not r.url.startswith(("data:", "blob:")) else None)
        self.t0 = time.monotonic()
        self.page.goto(server.url + query)
        self.wait(f"{js_model('mdhmc-cloud-walkers')} && {js_model('mdhmc-cloud-walkers')}.data.x.length > 0", 60)
        self.first_frame_s = time.monotonic() - self.t0

    def show(self, name: str):
        """Open the tab that shows model ``name`` (if it is in one), and wait for the model."""
        tab = MODEL_TAB.get(name)
        if tab is None:
            return
        if not self.page.evaluate(f"() => !!(window.Bokeh && Bokeh.documents.length && {js_model(name)})"):
            self.page.locator(".bk-tab", has_text=re.compile(f"^{re.escape(tab)}$")).first.click()
            self.page.wait_for_function(f"() => !!{js_model(name)}", timeout=60_000, polling=50)

    def wait(self, expr: str, timeout: float = 20):
        for name in re.findall(r"get_model_by_name\('([^']+)'\)", expr):
            self.show(name)
        self.page.wait_for_function(f"() => window.Bokeh && Bokeh.documents.length > 0 && ({expr})",
                                    timeout=timeout * 1000, polling=50)

    def js(self, expr: str):
        return self.page.evaluate(f"() => {expr}")

    def walkers(self) -> list:
        return self.js(f"Array.from({js_model('mdhmc-cloud-walkers')}.data.x)")

    def wait_walkers_move(self, old: list, timeout: float = 30):
        """Until the cloud differs from ``old`` (a frame's arrival is timed by load and compiles, so
        a test waits for it instead of sleeping a fixed second and hoping)."""
        self.page.evaluate("old => { window.__mdhmc_old = old; }", old)
        self.wait(f"{js_model('mdhmc-cloud-walkers')}.data.x.some((v, i) => v !== window.__mdhmc_old[i])",
                  timeout)

    def data(self, name: str, col: str) -> list:
        self.show(name)
        return self.js(f"Array.from({js_model(name)}.data['{col}'] || [])")

    def applied_step_size(self) -> str:
        return self.page.locator(".applied-step-size").first.inner_text()

    def wait_applied(self, name: str, value: str, timeout: float = 20):
        """Until the strip shows ``value`` as the sampler's setting ``name`` (checked inside the page)."""
        cls = "applied-" + name.replace("_", "-")
        self.wait(f"{js_model('mdhmc-strip')}.text.includes('{cls}\">{value}<')", timeout)

    def wait_applied_step_size(self, value: str, timeout: float = 20):
        self.wait_applied("step_size", value, timeout)

    def slider_handle(self, label: str):
        return self.page.locator(".bk-input-group", has=self.page.locator(".bk-slider-title", has_text=label)) \
            .locator(".noUi-handle").first

    def screenshot(self, name: str):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)

    def close(self):
        self.ctx.close()


@pytest.fixture
def open_page(browser, dashboard_server):
    pages = []

    def make(query: str = "", **kw) -> Page:
        p = Page(browser, dashboard_server, query, **kw)
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.close()


def test_page_loads_offline_without_console_errors(open_page):
    p = open_page()
    assert p.first_frame_s < 30, f"first frame after {p.first_frame_s:.1f} s"
    p.wait(f"{js_model('mdhmc-qq-x')}.data.sample.length > 0", 30)
    time.sleep(2.0)
    p.screenshot("dashboard.png")
    assert p.errors == [], p.errors
    assert p.external == [], f"requests left the machine: {p.external}"
    title = p.js(f"{js_model('mdhmc-cloud')}.title.text")
    assert "scorpio" in title and "2,000 walkers" in title


def test_walker_plot_changes_over_time(open_page):
    p = open_page()
    p.js("(window.__frames = 0, Bokeh.documents[0].on_change(ev => { if (ev.model && ev.model.name === "
         "'mdhmc-cloud-walkers') window.__frames++; }), 0)")
    a = p.walkers()
    # the cloud keeps updating: five frames arrive (a frame *rate* is a benchmark's business,
    # benchmarks/dashboard_updates.py, not a test's: the wait is generous for a loaded machine)
    p.wait("window.__frames >= 5", 30)
    b = p.walkers()
    assert len(a) == len(b) == 2000
    assert a != b


#: the cloud's overlay canvas (walkers, trajectory: dashboard/cloud.py LIVE_LEVEL): how many
#: painted pixels lie in the plot frame and how many outside it (over the axes, the title) by more
#: than the 1 px a clip's anti-aliased edge may cover
OVERLAY_PIXELS = """() => {
  const fig = Bokeh.documents[0].get_model_by_name('mdhmc-cloud');
  let view = null;
  for (const root of Object.values(Bokeh.index)) { view = view || (root.owner ? root.owner.find_one(fig) : null); }
  const layer = view.canvas_view.overlays;
  const r = layer.pixel_ratio, c = layer.canvas, f = view.frame.bbox;
  const img = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let inside = 0, outside = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    if (img[4 * (y * c.width + x) + 3] === 0) continue;
    const X = (x + 0.5) / r, Y = (y + 0.5) / r;
    if (X >= f.left && X <= f.right && Y >= f.top && Y <= f.bottom) inside++;
    else if (X < f.left - 1 || X > f.right + 1 || Y < f.top - 1 || Y > f.bottom + 1) outside++;
  }
  return {inside, outside};
}"""


def test_walkers_outside_a_zoomed_in_view_are_not_drawn_over_the_axes(open_page):
    """The walkers are drawn on the plot's overlay canvas, which Bokeh repaints alone for each
    frame; a glyph there is clipped to the plot frame only because the page asks for it
    (dashboard/cloud.py, CLIP_JS). Zoomed in beside the body, with its centre just left of the
    view: many walkers lie under the y axis."""
    p = open_page()
    p.wait_walkers_move(p.walkers())
    p.js(f"({js_model('mdhmc-cloud')}.x_range.setv({{start: 0.6, end: 2.6}}), "
         f"{js_model('mdhmc-cloud')}.y_range.setv({{start: -2, end: 2}}), 0)")  # as a box zoom does
    p.wait_walkers_move(p.walkers())
    time.sleep(0.3)  # its paint
    px = p.js(OVERLAY_PIXELS[6:])
    assert px["inside"] > 0, px  # walkers are drawn in the frame
    assert px["outside"] == 0, f"walkers drawn outside the plot frame: {px}"


def test_step_size_slider_changes_the_samplers_step_size(open_page, dashboard_server):
    p = open_page()
    p.wait_applied_step_size("0.05")
    handle = p.slider_handle("Step size")
    handle.focus()
    for _ in range(10):
        p.page.keyboard.press("ArrowRight")
    # the strip shows what the *sampler* has (session -> worker -> Sampler.update -> snapshot)
    p.wait_applied_step_size("0.06")
    assert p.applied_step_size() == "0.06"
    assert re.search(r"step_size=0\.06(&|$)", p.page.url), p.page.url  # shareable link
    p.close()
    # a new page from that link starts with that step size
    q = open_page("?" + urlparse(p.page.url).query)
    q.wait_applied_step_size("0.06")


def test_switching_target_to_funnel_redraws(open_page):
    p = open_page()
    before = p.walkers()
    p.page.locator("select").first.select_option("funnel")
    p.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('funnel')", 30)
    p.wait(f"{js_model('mdhmc-cloud')}.left[0].axis_label === 'v'", 10)
    after = p.walkers()
    assert after != before
    p.wait_walkers_move(after)  # and it keeps sampling
    p.screenshot("dashboard-funnel.png")
    assert p.errors == []


def test_qq_and_temperature_views_update(open_page):
    p = open_page()
    p.wait(f"{js_model('mdhmc-qq-y')}.data.sample.length > 0", 30)
    q1 = p.data("mdhmc-qq-y", "sample")
    assert len(q1) == 100 and len(p.data("mdhmc-qq-y", "exact")) == 100
    # the pipeline reaches tempering (20 diffusion sweeps), then swaps are recorded
    p.wait(f"{js_model('mdhmc-swaps')}.data.sweep.length > 3", 60)
    n1 = len(p.data("mdhmc-swaps", "sweep"))
    p.wait(f"{js_model('mdhmc-swaps')}.data.sweep.length > {n1}", 30)  # and they go on
    assert p.data("mdhmc-qq-y", "sample") != q1
    rungs = p.data("mdhmc-rungs", "n")
    assert rungs == [1000, 1000]
    acc = p.data("mdhmc-swaps", "acceptance")
    assert all(0 <= a <= 1 for a in acc)


def test_two_sessions_do_not_share_state_and_closing_stops_the_thread(open_page, dashboard_server):
    a = open_page()
    b = open_page("?seed=3")
    time.sleep(0.5)
    handle = a.slider_handle("Step size")
    handle.focus()
    for _ in range(5):
        a.page.keyboard.press("ArrowRight")
    a.wait_applied_step_size("0.055")
    time.sleep(0.3)
    assert b.applied_step_size() == "0.05"
    assert a.walkers() != b.walkers()
    stopped_before = dashboard_server.log().count("worker stopped")
    bx = b.walkers()
    b.close()
    end = time.monotonic() + 40  # the server drops a session 10 s after its page went away
    while time.monotonic() < end and dashboard_server.log().count("worker stopped") <= stopped_before:
        time.sleep(0.2)
    assert dashboard_server.log().count("worker stopped") > stopped_before, dashboard_server.log()[-2000:]
    # the other session goes on
    assert a.walkers() != bx
    a.wait_walkers_move(a.walkers())


def test_side_by_side_runs_the_pipeline_and_exact_hmc(open_page):
    p = open_page("?stage=side-by-side")
    p.wait(f"{js_model('mdhmc-cloud-hmc-walkers')}.data.x.length == 2000", 30)
    h1 = p.data("mdhmc-cloud-hmc-walkers", "x")
    # the exact-HMC side moves on its own (its first sweep may wait for a kernel compile)
    p.wait(f"{js_model('mdhmc-cloud-hmc-walkers')}.data.x.some((x, i) => x !== {h1}[i])", 30)
    assert "exact HMC" in p.page.locator(".mdhmc-strip").nth(1).inner_text()


def test_a_failing_user_target_shows_a_message_and_the_session_goes_on(open_page):
    p = open_page("?target=raiser&stage=metropolis&metropolis_scale=8")
    err = p.page.locator(".mdhmc-alert.danger")
    err.wait_for(timeout=60_000)
    assert "x0 left the model's domain" in err.inner_text()
    # the broken target file is reported, not fatal
    assert p.page.locator(".mdhmc-alert.warning", has_text="broken_target.py").count() == 1
    # still alive: switch back to a built-in and it samples
    p.page.locator("select").first.select_option("scorpio")
    p.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('scorpio')", 30)
    p.page.get_by_role("button", name="Play").click()
    # it samples again (the first sweep after a switch may wait for a kernel compile on a cold cache)
    p.wait_walkers_move(p.walkers(), 60)
    assert not [e for e in p.errors if "x0 left" in e]


def test_generated_delta_slider_moves_the_plotted_delta_band(open_page):
    """Delta (a slider generated from SPEC) -> sampler -> the ±δ band's data in the H-error plot."""
    p = open_page("?stage=diffusion")
    p.wait_applied("delta", "1")
    assert p.data("mdhmc-delta-band", "y1") == [1.0]
    handle = p.slider_handle("Delta")
    handle.focus()
    for _ in range(10):
        p.page.keyboard.press("ArrowRight")  # step 0.05
    p.wait_applied("delta", "1.5")
    p.wait(f"{js_model('mdhmc-delta-band')}.data.y1[0] === 1.5", 20)
    assert p.data("mdhmc-delta-band", "y0") == [-1.5]
    assert re.search(r"delta=1\.5(&|$)", p.page.url), p.page.url
    assert len(p.data("mdhmc-energy", "step")) > 0  # the traces it frames are drawn
    assert p.errors == [], p.errors


def test_url_keys_are_setting_names_and_round_trip(open_page):
    p = open_page("?target=funnel&target_dim=5&viscosity_gain=2.5")
    p.wait_applied("viscosity_gain", "2.5")
    p.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('funnel (5-D)')", 30)
    # the control shows it: Panel writes the value into the slider's title
    title = p.page.locator(".bk-slider-title", has_text="Viscosity gain").first.inner_text()
    assert "2.5" in title, title
    assert p.page.locator("select").nth(1).input_value() == "5"  # the Dimension control
    # a nullable setting set to auto is written as `auto` and read back
    p.page.get_by_text("Trim, Metropolis and tempering").click()  # its collapsed card
    # the card's auto boxes follow SPEC's order (rungs, metropolis_scale, target_accept)
    box = [s.name for s in SPEC if s.nullable and s.group == "metropolize"].index("metropolis_scale")
    p.page.locator(".bk-Checkbox", has_text="auto").nth(box).locator("input").uncheck()
    p.wait(r"window.location.search.includes('metropolis_scale=1')", 10)
    p.page.locator(".bk-Checkbox", has_text="auto").nth(box).locator("input").check()
    p.wait(r"window.location.search.includes('metropolis_scale=auto')", 10)
    query = urlparse(p.page.url).query
    assert "viscosity_gain=2.5" in query and "target_dim=5" in query
    q = open_page("?" + query)
    q.wait_applied("viscosity_gain", "2.5")
    q.wait_applied("metropolis_scale", "auto")
    q.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('funnel (5-D)')", 30)
    # links made before the names changed still work: dim, thermostat_gain
    old = open_page("?target=funnel&dim=10&thermostat_gain=3")
    old.wait_applied("viscosity_gain", "3")
    old.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('funnel (10-D)')", 30)
