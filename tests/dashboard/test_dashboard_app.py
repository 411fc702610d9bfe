"""`App` outside ``panel serve``: rendered into a Bokeh document in-process (``get_root``),
and in a Jupyter kernel (``from mdhmc.dashboard import App; App()`` in a notebook cell)."""

from __future__ import annotations

import os

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document

from mdhmc.dashboard import App
from mdhmc.sampler.settings import SPEC

SMALL = dict(walkers=200, steps=10, warmup=5)


#: models shown in a tab other than the first (only the open tab is in the document)
TAB_OF = {"mdhmc-mass": 3, "mdhmc-ks-x": 1, "mdhmc-qq-y": 1}


def model(root, name: str, app: App | None = None):
    if app is not None and name in TAB_OF:
        app.tabs.active = TAB_OF[name]  # open its tab, as a user would
    return root.select_one({"name": name})


def draw(app: App, frames: int = 1):
    """Let the worker (no thread here) publish ``frames`` frames, drawing each."""
    for _ in range(frames):
        app.worker.advance(1)
        assert app.draw()


@pytest.fixture
def app():
    a = App(stage="metropolis", live=False, **SMALL)  # no thread: the test drives the worker
    yield a
    a.close()


def test_every_view_draws_every_stage_and_nd_coordinates(app):
    doc = pn.panel(app).get_root(Document())  # the page's root model
    walkers = model(doc, "mdhmc-cloud-walkers")
    for stage in ("metropolis", "tempering", "hmc", "side-by-side"):
        app.controls.stage = stage
        draw(app, 3)
        assert np.isclose(sum(model(doc, "mdhmc-mass", app).data["a"]), 1.0)  # mass per component drawn
        assert model(doc, "mdhmc-ks-x", app).text.startswith("KS D = ") \
            and len(model(doc, "mdhmc-qq-y", app).data["sample"]) == 100
    assert model(doc, "mdhmc-cloud-hmc").visible and len(model(doc, "mdhmc-cloud-hmc-walkers").data["x"]) == 200
    assert np.isclose(sum(model(doc, "mdhmc-mass", app).data["b"]), 1.0)
    np.testing.assert_allclose(walkers.data["x"], app.worker.sampler.state.positions[:, 0].astype(np.float32))
    app.controls.param.update(stage="metropolis", target="funnel", target_dim=5)
    draw(app, 2)
    assert (app.controls.xcoord, app.controls.ycoord) == (0, 4)  # funnel: x1 against v
    cloud = model(doc, "mdhmc-cloud")
    assert cloud.xaxis[0].axis_label == "x1" and cloud.yaxis[0].axis_label == "v" and "funnel (5-D)" in cloud.title.text
    app.controls.param.update(xcoord=2, ycoord=3)
    draw(app, 1)
    assert cloud.xaxis[0].axis_label == "x3"
    np.testing.assert_allclose(walkers.data["y"], app.worker.sampler.state.positions[:, 3].astype(np.float32))


def test_a_generated_slider_moves_the_energy_band(app):
    """Delta (a widget generated from SPEC) -> sampler -> the H-error band drawn at ±delta."""
    doc = pn.panel(app).get_root(Document())  # the page's root model
    app.controls.stage = "diffusion"
    draw(app, 2)
    band = model(doc, "mdhmc-delta-band")
    assert band.data == {"y0": [-1.0], "y1": [1.0]}
    slider = next(w for w in pn.panel(app.sidebar).select(pn.widgets.FloatSlider) if w.name == "Delta")
    slider.value = 2.5
    draw(app, 1)
    assert app.worker.sampler.settings.delta == 2.5
    assert band.data == {"y0": [-2.5], "y1": [2.5]}
    assert len(model(doc, "mdhmc-energy").data["step"]) > 0


def test_every_setting_with_a_widget_has_one_and_auto_means_none(app):
    widgets = pn.panel(app.sidebar).select(pn.widgets.Widget)
    names = {w.name for w in widgets}
    assert {s.label for s in SPEC if s.widget} <= names
    assert not {s.label for s in SPEC if not s.widget} & names  # mass, sweeps: presets and CLI only
    slider = next(w for w in widgets if w.name == "Metropolis scale")
    # the auto boxes follow SPEC's order of nullable settings (rungs comes before metropolis_scale)
    box = [s.name for s in SPEC if s.nullable].index("metropolis_scale")
    auto = [w for w in widgets if w.name == "auto"][box]
    assert auto.value and slider.disabled and app.controls.metropolis_scale is None
    auto.value = False
    assert app.controls.metropolis_scale == slider.value == 1.0 and not slider.disabled
    slider.value = 0.4
    assert app.controls.metropolis_scale == 0.4
    app.controls.metropolis_scale = None  # from a preset or a link: the widgets follow
    assert auto.value and slider.disabled and slider.value == 0.4
    app.controls.metropolis_scale = 2.0
    assert not auto.value and slider.value == 2.0 and app.controls.metropolis_scale == 2.0
    app.worker.advance(1)
    assert app.worker.sampler.settings.metropolis_scale == 2.0


NOTEBOOK = [
    "import os, time, asyncio\n"
    "from mdhmc.dashboard import App\n"
    "app = App(stage='metropolis', walkers=200, steps=10, warmup=5)\n"
    "app",
    # the kernel's event loop runs the app's periodic callback while this cell awaits
    "x0 = list(app.cloud.walkers.data['x'])\n"
    "for _ in range(300):\n"
    "    await asyncio.sleep(0.05)\n"
    "    if app.frames >= 5 and list(app.cloud.walkers.data['x']) != x0:\n"
    "        break\n"
    "assert app.frames >= 5, app.frames\n"
    "assert list(app.cloud.walkers.data['x']) != x0\n"
    "assert app.worker.running\n"
    "print('frames', app.frames, 'sweep', app.worker.sampler.sweep_count)\n"
    "assert app.close()",
]


def test_app_runs_in_a_notebook_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in NOTEBOOK])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env = {"MDHMC_WARM_TARGETS": "scorpio", "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v})
    try:
        nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.get("output_type") == "stream")
    assert out.startswith("frames "), out


def test_the_cloud_legend_follows_the_ladder_without_new_models(app):
    """Rung labels and visibility change in place: a new list of legend items would change the
    page's model graph, and Bokeh then walks every model of the document (once per frame while
    the ladder adapts)."""
    from mdhmc.dashboard.frames import Rungs

    doc = Document()
    doc.add_root(pn.panel(app).get_root(doc))
    cloud = app.cloud
    rung = np.repeat(np.arange(3, dtype=np.int32), 10)

    def show(temps, version):
        cloud.set_rungs(Rungs(version=version, walkers=len(rung), rung=rung % len(temps),
                              temperatures=np.asarray(temps, float), naive_swap=False, tempered=len(temps) > 1))
        # a label is a value: a bare string would name a data column (BokehJS: "Invalid field")
        assert all(hasattr(i.label, "value") for i in cloud.rung_items)
        return [(i.label.value, i.visible) for i in cloud.legend.items if i in cloud.rung_items]

    assert show([1.0, 1.8, 3.5], 1)[:3] == [("T = 1 (cold)", True), ("T = 1.8", True), ("T = 3.5", True)]
    items, recomputes = list(cloud.legend.items), []
    real = doc.models.recompute
    doc.models.recompute = lambda: (recomputes.append(1), real())[1]
    labels = show([1.0, 2.2, 3.5], 2)
    assert labels[:3] == [("T = 1 (cold)", True), ("T = 2.2", True), ("T = 3.5", True)]
    assert show([1.0], 3)[:3] == [("walkers (T = 1)", True), ("T = 2.2", False), ("T = 3.5", False)]
    assert cloud.legend.items == items and recomputes == []  # same models, no walk of the document
    show([1.0, 1.3, 1.7, 2.3, 3.5], 4)  # more rungs than swatches: new models, once
    assert len(cloud.rung_items) == 5 and recomputes


def test_play_and_pause_toggles_show_the_state_in_force(app):
    """Play / Pause are toggles: the one in force is pressed, whoever changed the state (a click,
    the keyboard, an error); a click on the toggle already pressed (the page un-presses it)
    changes nothing and presses it again."""
    toggles = {w.name: w for w in pn.panel(app.sidebar).select(pn.widgets.Toggle)}
    play, pause = toggles["Play"], toggles["Pause"]
    assert app.controls.playing and play.value and not pause.value
    pause.value = True  # a click on Pause
    assert not app.controls.playing and pause.value and not play.value
    pause.value = False  # a second click on Pause: the page un-pressed it
    assert not app.controls.playing and pause.value and not play.value
    play.value = True
    assert app.controls.playing and play.value and not pause.value
    app.controls.playing = False  # the space key, or an error that pauses
    assert pause.value and not play.value
