"""The live lab in headless Chromium: every mission slider changes what is plotted in the
default view, the strip never carries a value over from another stage, no control sequence
leaves a console error or a 'nan', and a copied link restores what was set.

Assertions read the page's Bokeh data sources (``Bokeh.documents[0]``), never pixels, and
never rates or timings: every wait is generous (the machine running the suite is shared).
"""

from __future__ import annotations

import re
import time

import pytest

from mdhmc.dashboard.texts import STAGE_LABELS
from test_dashboard_browser import Page, js_model

pytestmark = pytest.mark.browser

STAGE_OPTIONS = ("pipeline", "diffusion", "metropolis", "tempering", "hmc", "side-by-side")
TARGETS = ("scorpio", "funnel", "banana", "donut", "multimodal", "squiggle", "stiff-wells")
PRESETS = {"seed-scorpio": "Seed: the thread's Scorpio run", "funnel-neck": "Funnel neck", "hot-start": "Hot start",
           "naive-swap-trap": "Naive-swap trap", "thread": "The 2017 thread's algorithm"}


@pytest.fixture
def page(browser, dashboard_server):
    pages = []

    def make(query: str = "") -> Page:
        p = Page(browser, dashboard_server, query)
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.close()


def last(name: str, col: str) -> str:
    """JS: the last value of a column of a data source (undefined when empty)."""
    return f"(d => d.length ? d[d.length - 1] : undefined)({js_model(name)}.data['{col}'])"


def press(p: Page, label: str, key: str, times: int = 1):
    handle = p.slider_handle(label)
    handle.focus()
    for _ in range(times):
        p.page.keyboard.press(key)


def strip_cell(p: Page, cls: str) -> str:
    """The value shown in the first strip row's cell of class ``cls``."""
    text = p.js(f"{js_model('mdhmc-strip')}.text")
    m = re.search(rf'class="mdhmc-cell {cls}[^"]*"[^>]*><div class="mdhmc-v">([^<]*)<', text)
    assert m, (cls, text[:600])
    return m.group(1)


def no_nan(p: Page):
    body = p.page.locator("body").inner_text()
    assert not re.search(r"\bnan\b", body, re.IGNORECASE), re.findall(r".{40}\bnan\b.{40}", body, re.IGNORECASE)
    strip = p.js(f"{js_model('mdhmc-strip')}.text")
    assert not re.search(r"\bnan\b", strip, re.IGNORECASE), strip


def select_stage(p: Page, stage: str):
    """The Stage control (its options are labelled: `texts.STAGE_LABELS`)."""
    p.page.locator("select").filter(has_text=STAGE_LABELS["hmc"]).first.select_option(label=STAGE_LABELS[stage])


def load_preset(p: Page, key: str):
    """Open the Presets card (once), choose a built-in preset, load it, wait for the message."""
    choose = p.page.locator("select").filter(has_text=PRESETS[key]).first
    if not choose.is_visible():
        p.page.get_by_text("Presets", exact=True).click()
    choose.select_option(label=PRESETS[key])
    p.page.get_by_role("button", name="Load preset").click()
    p.page.locator(".mdhmc-alert.success", has_text=PRESETS[key]).first.wait_for(timeout=60_000)


def test_every_mission_slider_changes_the_plot_in_the_default_view(page):
    """Default page: the pipeline reaches tempering; the diffusion probe keeps trajectories
    coming, so Step size, Delta and Viscosity gain still change the plotted energies (each
    trajectory drawn carries the settings it ran with), and Temperature the rung chart."""
    p = page()
    p.wait(f"{js_model('mdhmc-strip')}.text.includes('pipeline · tempering')", 90)
    p.wait(f"{js_model('mdhmc-energy-means')}.data.x0.length > 2", 30)
    assert "Diffusion probe" in p.js(f"{js_model('mdhmc-energy-fig')}.title.text")
    # no diffusion slider is marked inactive while the probe runs beside tempering
    for name in ("step_size", "delta", "viscosity_gain", "t_hot"):
        assert p.page.locator(f".mdhmc-inactive[data-setting='{name}']").count() == 0, name
    for label, name, key, times, value in (("Step size", "step_size", "ArrowRight", 10, 0.06),
                                           ("Delta", "delta", "ArrowRight", 10, 1.5),
                                           ("Viscosity gain", "viscosity_gain", "ArrowRight", 10, 2.0)):
        before = p.data("mdhmc-energy", "U")
        press(p, label, key, times)
        # the newest trajectory drawn ran with the new value, and the energy data changed
        p.wait_applied(name, f"{value:.3g}", 60)
        p.wait(f"Math.abs({last('mdhmc-energy-means', name)} - {value}) < 1e-9", 60)
        assert p.data("mdhmc-energy", "U") != before
    p.wait(f"{js_model('mdhmc-delta-band')}.data.y1[0] === 1.5", 20)
    temps = p.data("mdhmc-rungs", "temperature")
    press(p, "Temperature", "ArrowRight", 10)
    p.wait(f"Math.abs({last('mdhmc-rungs', 'temperature')} - {temps[-1] + 1.0}) < 1e-6", 30)
    assert p.errors == [], p.errors
    no_nan(p)


def test_a_slider_out_of_its_phase_says_where_it_acts(page):
    p = page("?stage=metropolis")
    note = p.page.locator(".mdhmc-inactive[data-setting='step_size']")
    note.wait_for(timeout=30_000)
    assert "acts in: diffusion" in note.inner_text()
    assert p.page.locator(".mdhmc-inactive[data-setting='t_hot']").count() == 1
    select_stage(p, "diffusion")
    p.page.locator(".mdhmc-inactive[data-setting='step_size']").wait_for(state="detached", timeout=30_000)
    assert p.page.locator(".mdhmc-inactive[data-setting='t_hot']").count() == 1


def test_switching_stages_and_targets_carries_no_value_over(page):
    p = page("?target=funnel&stage=hmc")
    p.wait(f"{js_model('mdhmc-strip')}.text.includes('exact HMC')", 60)
    p.wait(f"{js_model('mdhmc-strip')}.text.includes('mdhmc-acceptance') && "
           f"/mdhmc-acceptance[^>]*><div class=\"mdhmc-v\">[0-9]/.test({js_model('mdhmc-strip')}.text)", 60)
    select_stage(p, "diffusion")
    p.wait(f"{js_model('mdhmc-strip')}.text.includes('Momentum diffusion')", 30)
    time.sleep(1.0)
    # diffusion has no acceptance, no divergences and no swaps: dashes, with the reason as tooltip
    for cls in ("mdhmc-acceptance", "mdhmc-divergences", "mdhmc-swap-acceptance"):
        assert strip_cell(p, cls) == "–", cls
    assert p.page.locator(".mdhmc-acceptance[title*='no accept/reject']").count() >= 1
    select_stage(p, "tempering")
    p.wait(f"/mdhmc-swap-acceptance[^>]*><div class=\"mdhmc-v\">[0-9]/.test({js_model('mdhmc-strip')}.text)", 60)
    assert strip_cell(p, "mdhmc-triggers") == "–"
    select_stage(p, "diffusion")
    p.wait(f"{js_model('mdhmc-strip')}.text.includes('Momentum diffusion')", 30)
    time.sleep(1.0)
    assert strip_cell(p, "mdhmc-swap-acceptance") == "–"
    assert p.data("mdhmc-swaps", "sweep") == [] or strip_cell(p, "mdhmc-swap-acceptance") == "–"
    for target in ("scorpio", "banana"):
        p.page.locator("select").first.select_option(target)
        p.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('{target}')", 60)
        for stage in STAGE_OPTIONS:
            select_stage(p, stage)
            time.sleep(0.7)
            no_nan(p)
    assert p.errors == [], p.errors


def test_temperatures_rungs_targets_and_presets_in_a_row_leave_no_error(page):
    p = page("?stage=tempering")
    press(p, "Temperature", "Home")  # T = 1 on every rung
    p.wait(f"{js_model('mdhmc-rungs')}.data.temperature.every(t => t === 1)", 30)
    time.sleep(0.5)
    press(p, "Temperature", "End")
    p.wait(f"{last('mdhmc-rungs', 'temperature')} > 19.999", 30)  # 1/beta of the adapted ladder: 20 within an ulp
    for rungs in (1, 2, 8, 16):
        q = page(f"?stage=tempering&rungs={rungs}&t_hot=1")
        q.wait(f"{js_model('mdhmc-rungs')}.data.T.length === {rungs}", 60)
        ticks = q.data("mdhmc-rungs", "tick")
        assert len(set(q.data("mdhmc-rungs", "T"))) == rungs
        assert sum(1 for t in ticks if t) <= 6  # labels thinned: never overprinted
        assert q.errors == [], (rungs, q.errors)
        no_nan(q)
        q.close()
    for target in TARGETS:
        p.page.locator("select").first.select_option(target)
        p.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('{target}')", 90)
        time.sleep(0.8)
        no_nan(p)
    for key in PRESETS:
        load_preset(p, key)
        time.sleep(1.0)
        no_nan(p)
    assert p.errors == [], p.errors


def test_a_copied_link_restores_every_change(page):
    p = page()
    p.page.locator("select").first.select_option("funnel")
    p.wait(f"{js_model('mdhmc-cloud')}.title.text.includes('funnel')", 60)
    select_stage(p, "tempering")
    press(p, "Step size", "ArrowRight", 7)
    press(p, "Temperature", "ArrowRight", 3)
    p.wait_applied("step_size", "0.057")
    # a preset, then one more change: the link holds both
    load_preset(p, "hot-start")
    press(p, "Viscosity gain", "ArrowRight", 4)
    time.sleep(0.5)
    p.page.locator("button", has_text="Copy link").click()
    p.page.wait_for_function("() => window.mdhmc_copied_link !== undefined", timeout=10_000)
    link = p.js("window.mdhmc_copied_link")
    applied = {n: p.page.locator(f".applied-{n.replace('_', '-')}").first.inner_text()
               for n in ("step_size", "delta", "viscosity_gain", "t_hot", "walkers", "rungs", "steps")}
    stage = strip_cell(p, "mdhmc-stage")
    title = p.js(f"{js_model('mdhmc-cloud')}.title.text")
    q = page(link[link.index("?"):])
    for n, v in applied.items():
        q.wait_applied(n, v, 60)
    q.wait(f"{js_model('mdhmc-cloud')}.title.text.split(' · ')[0] === {title.split(' · ')[0]!r}", 60)
    assert strip_cell(q, "mdhmc-stage") == stage
    assert q.errors == [] and p.errors == [], (p.errors, q.errors)
