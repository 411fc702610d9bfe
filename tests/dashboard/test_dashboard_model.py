"""The dashboard's controls, worker and frames without a server (no browser, no Panel server).

Most tests run the Metropolis stage on small ensembles (its kernel compiles in seconds);
one runs the pipeline through diffusion.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mdhmc.dashboard import catalog
from mdhmc.dashboard.controls import MISSION, STAGE_CHOICES, URL_KEYS, WIDGET_SETTINGS, Controls, legacy_query
from mdhmc.dashboard.figures import fmt
from mdhmc.dashboard.frames import Frame
from mdhmc.dashboard.strip import strip_html
from mdhmc.dashboard import registry
from mdhmc.dashboard.worker import Worker
from mdhmc.sampler import Sampler, Settings
from mdhmc.sampler import presets as presets_mod
from mdhmc.sampler.settings import BY_NAME, LIVE_DEFAULTS, SPEC, THREAD_VALUES
from dashboard_helpers import write_target_files

SMALL = dict(walkers=200, steps=10, warmup=5)


def small(max_lag_s: float = 0.25, **kw) -> Worker:
    return Worker(Controls(**{**SMALL, **kw}), max_lag_s=max_lag_s)


@pytest.fixture
def worker():
    w = small(stage="metropolis")
    yield w
    w.close()


def test_controls_are_generated_from_spec_with_live_defaults():
    c = Controls()
    for s in SPEC:
        p = c.param[s.name]
        assert p.label == s.label and s.doc[1:] in p.doc
        assert getattr(c, s.name) == LIVE_DEFAULTS.get(s.name, s.default), s.name
        if s.kind in ("int", "float"):
            assert p.bounds == s.bounds and p.softbounds == s.soft, s.name
            assert p.allow_None == s.nullable
    assert (c.walkers, c.steps, c.warmup) == (2000, 100, 50)  # LIVE_DEFAULTS
    assert c.metropolis_scale is None and c.target_accept is None  # auto
    assert [c.param[n].label for n in MISSION] == ["Step size", "Delta", "Viscosity gain", "Temperature"]
    widgets = {n for names in WIDGET_SETTINGS.values() for n in names}
    assert widgets == {s.name for s in SPEC if s.widget}
    assert set(STAGE_CHOICES) == {"diffusion", "metropolis", "tempering", "pipeline", "hmc", "side-by-side"}
    assert c.settings() == Settings(**{**LIVE_DEFAULTS, "sweeps": 100_000_000})


def test_url_keys_are_setting_names_and_old_links_still_read():
    assert {"viscosity_gain", "target_dim", "metropolis_scale", "step_size"} <= set(URL_KEYS)
    assert "dim" not in URL_KEYS and "mass" not in URL_KEYS and "metropolis_auto" not in URL_KEYS
    c = Controls()
    p = c.param.metropolis_scale
    assert p.serialize(None) == "auto" and p.deserialize("auto") is None and p.serialize(0.055000000000000014) == 0.055
    assert legacy_query({"dim": 5, "thermostat_gain": 2.5, "metropolis_auto": True}) == \
        {"target_dim": 5, "viscosity_gain": 2.5, "metropolis_scale": None}
    assert legacy_query({"metropolis_auto": False, "metropolis_scale": 8}) == {}
    old = Controls(target="funnel", dim=5, gain=2.0)
    assert old.target_dim == 5 and old.viscosity_gain == 2.0 and (old.xcoord, old.ycoord) == (0, 4)


def test_parameter_changes_reach_the_sampler_without_a_reset(worker):
    c = worker.controls
    worker.advance(3)
    x_before = worker.sampler.state.positions.copy()
    sweeps = worker.sampler.sweep_count
    c.param.update(step_size=0.0123, delta=0.7, viscosity_gain=2.5, t_hot=5.0, noise=0.1, hot=2.0,
                   trigger=7.0, steps=15, metropolis_scale=0.4, spsa_k=3, integrator="euler")
    worker.advance(1)
    st = worker.sampler.settings
    assert (st.step_size, st.delta, st.viscosity_gain, st.t_hot, st.noise, st.hot, st.trigger, st.steps) == \
        (0.0123, 0.7, 2.5, 5.0, 0.1, 2.0, 7.0, 15)
    assert (st.metropolis_scale, st.spsa_k, st.integrator) == (0.4, 3, "euler")
    assert worker.sampler.sweep_count == sweeps + 1  # no reset: the count goes on
    assert not np.array_equal(worker.sampler.state.positions, x_before)  # and the walkers moved on
    frame = worker.take_frame()
    assert frame.applied.step_size == 0.0123 and frame.applied.metropolis_scale == 0.4
    c.metropolis_scale = None  # back to auto
    worker.advance(1)
    assert worker.sampler.settings.metropolis_scale is None


def test_walkers_and_seed_reset(worker):
    worker.advance(2)
    worker.controls.walkers = 300
    worker.advance(1)
    assert worker.sampler.state.walkers == 300 and worker.sampler.sweep_count == 1
    worker.controls.seed = 7
    worker.advance(1)
    assert worker.sampler.settings.seed == 7 and worker.sampler.sweep_count == 1


def test_an_impossible_setting_is_refused_and_the_sampler_keeps_its_own(worker):
    worker.advance(1)
    worker.controls.param.update(walkers=6, rungs=8)
    worker.advance(1)
    frame = worker.take_frame()
    assert "need at least 16 walkers" in frame.error and not frame.paused_by_error
    assert worker.sampler.settings.rungs is None and worker.sampler.settings.walkers == 200  # rungs: auto


def test_reset_restores_the_dispersed_start(worker):
    start = Sampler(catalog.get_target("scorpio"), worker.controls.settings(), stage="metropolis").state.positions
    worker.advance(4)
    assert not np.allclose(worker.sampler.state.positions, start)
    worker.reset()
    worker.controls.playing = False
    worker.advance(1)
    assert worker.sampler.sweep_count == 0
    np.testing.assert_allclose(worker.sampler.state.positions, start)
    np.testing.assert_allclose(worker.take_frame().walkers.x, start[:, 0].astype(np.float32))


@pytest.mark.parametrize("stage", ["metropolis", "tempering", "hmc", "side-by-side", "metropolis"])
def test_stages_switch(worker, stage):
    worker.advance(1)
    worker.controls.stage = stage
    worker.advance(2)
    if stage == "side-by-side":
        assert worker.sampler.stage == "pipeline" and worker.sampler_b.stage == "hmc"
        frame = worker.take_frame()
        assert frame.layout.side_by_side and frame.walkers_b is not None and frame.stats.b is not None
    else:
        assert worker.sampler.stage == stage and worker.sampler_b is None
        assert len(worker.sampler.temperatures) == (2 if stage == "tempering" else 1)


def test_pipeline_advances_by_itself_and_records_energies():
    w = small(diffusion_sweeps=3, steps=20)
    try:
        phases = []
        for _ in range(6):
            w.advance(1)
            phases.append(w.sampler.phase)
        assert phases[0] == "diffusion" and phases[-1] == "tempering"
        frame = w.take_frame()
        e = frame.energy
        # after diffusion a probe of cold walkers keeps diffusing: its trajectories follow
        assert len(e.step) >= 3 * 21 and len(e.means.U) >= 3 and frame.probe > 0
        assert frame.trajectory is None  # the probe's trajectories feed the energy panel, not the cloud
        assert np.isfinite(e.U[np.isfinite(e.step)]).all()
        w.controls.stage = "diffusion"
        w.advance(1)
        tr = w.take_frame().trajectory
        assert tr is not None and len(tr.x) == 21 and tr.chosen is not None
        assert tr.size.max() > tr.size.min()  # sized by weight
    finally:
        w.close()


def test_frames_are_typed_and_never_show_nan(worker):
    worker.advance(8)
    frame = worker.take_frame()
    assert isinstance(frame, Frame) and worker.take_frame() is None  # newest wins, taken once
    assert frame.walkers.x.dtype == np.float32 and frame.walkers.x.shape == (200,)
    st = frame.stats.a
    assert st.qq[0].sample.shape == st.qq[0].exact.shape
    assert 0 <= st.qq[0].ks <= 1 and 0 <= st.qq[1].ks <= 1
    assert np.isclose(st.mass.sum(), 1.0)
    html = strip_html(frame)
    assert "nan" not in html.lower() and "inf" not in html.lower()
    assert 'class="applied-viscosity-gain">1<' in html and 'class="applied-metropolis-scale">auto<' in html
    assert fmt(float("nan")) == "–" and fmt(None) == "–" and fmt(float("inf")) == "–" and fmt(0.5, ".2f") == "0.50"


def test_worker_thread_streams_applies_changes_and_stops():
    w = small(stage="metropolis", max_lag_s=0.05).start()
    c = w.controls
    try:
        assert w.running and w in registry.live()
        assert w.wait_for(lambda f: f.sweep >= 3, timeout=60) is not None
        c.step_size = 0.02
        assert w.wait_for(lambda f: f.applied is not None and f.applied.step_size == 0.02, timeout=10) is not None
        c.playing = False
        time.sleep(0.3)
        w.take_frame()
        n = w.sampler.sweep_count
        time.sleep(0.4)
        assert w.sampler.sweep_count == n  # paused: no sweeps
        w.step()
        assert w.wait_for(lambda f: f.sweep == n + 1, timeout=10) is not None
        w.suspend(True)  # no browser connected: no sweeps, even while playing
        c.playing = True
        time.sleep(0.4)
        n = w.sampler.sweep_count
        time.sleep(0.4)
        assert w.sampler.sweep_count == n
        w.suspend(False)
        assert w.wait_for(lambda f: f.sweep > n + 2, timeout=10) is not None
        thread = w.thread
    finally:
        assert w.close(timeout=10)
    assert not thread.is_alive() and w not in registry.live()


def test_two_workers_do_not_share_state():
    a = small(stage="metropolis", seed=1, max_lag_s=0.05).start()
    b = small(stage="metropolis", seed=2, max_lag_s=0.05).start()
    try:
        assert a.wait_for(lambda f: f.sweep >= 2, 60) and b.wait_for(lambda f: f.sweep >= 2, 60)
        a.controls.step_size = 0.031
        assert a.wait_for(lambda f: f.applied is not None and f.applied.step_size == 0.031, 10)
        assert b.sampler.settings.step_size == 0.05 and b.controls.step_size == 0.05
        assert a.sampler is not b.sampler
        assert not np.allclose(a.sampler.state.positions, b.sampler.state.positions)
        a.controls.target = "banana"
        assert a.wait_for(lambda f: f.layout is not None and f.layout.target == "banana", 60)
        assert b.sampler.target.name == "scorpio"
    finally:
        a.close()
        b.close()
    assert not a.running and not b.running


def test_a_failing_log_density_is_reported_and_the_worker_goes_on(tmp_path, monkeypatch):
    good, bad = write_target_files(tmp_path)
    monkeypatch.setenv(catalog.ENV_VAR, f"{good}:{bad}")
    catalog.reload()
    try:
        assert "raiser" in catalog.target_names() and "broken" not in catalog.target_names()
        assert any("broken_target.py" in e for e in catalog.load_errors())
        c = Controls(target="raiser", stage="metropolis", walkers=100, metropolis_scale=8.0)
        w = Worker(c, max_lag_s=0.05).start()
        try:
            frame = w.wait_for(lambda f: bool(f.error), timeout=60)
            assert frame is not None and "x0 left the model's domain" in frame.error
            assert frame.paused_by_error and w.running  # paused, thread alive
            c.playing = False
            c.metropolis_scale = 0.01  # small steps stay inside the domain
            c.moves = "rwm"  # (ensemble moves take steps as long as the ensemble is wide)
            w.reset()
            c.playing = True
            assert w.wait_for(lambda f: f.sweep >= 5 and not f.paused_by_error, timeout=30) is not None
            c.stage = "hmc"  # no gradient: refused, back to the pipeline, with a notice
            assert c.stage == "pipeline" and "no gradient" in c.notice
        finally:
            w.close()
    finally:
        monkeypatch.delenv(catalog.ENV_VAR)
        catalog.reload()


@pytest.mark.parametrize("name", sorted(presets_mod.builtin_presets()))
def test_builtin_presets_apply_and_round_trip(name):
    preset = presets_mod.builtin_presets()[name]
    c = Controls()
    c.apply_preset(preset)
    assert c.target == (preset["target"] or "scorpio")  # `thread` names no target: the current one stays
    if preset.get("stage"):
        assert c.stage == preset["stage"]
    want = preset.apply(Settings(**LIVE_DEFAULTS))
    got = c.settings()
    for k in preset["settings"]:
        k = BY_NAME[k].name if k in BY_NAME else k
        if k != "sweeps":
            assert getattr(got, k) == getattr(want, k), k
    if preset["base"] == "thread":
        for k, v in THREAD_VALUES.items():
            assert getattr(got, k) == v, k
    again = Controls()
    again.apply_preset(presets_mod.loads(c.preset_json()))
    assert again.settings() == c.settings() and again.target == c.target and again.stage == c.stage


def test_presets_from_the_browser_cannot_load_files():
    c = Controls()
    text = json.dumps({"format": "mdhmc-preset", "version": 1, "target": "/tmp/evil.py", "settings": {}})
    with pytest.raises(presets_mod.PresetError, match="not offered by this server"):
        c.apply_preset(text)
    with pytest.raises(presets_mod.PresetError):
        c.apply_preset('{"settings": {"step_size": -1}}')
    assert c.target == "scorpio"


NAN_HALF_PLANE = '''
import math
dim = 2
bounds = ((-3.0, 3.0), (-3.0, 3.0))
def log_density(x):
    if x[0] > 1.0:
        return math.nan  # a float fault: a rejection, never an error
    return -0.5 * (x[0] * x[0] + x[1] * x[1])
'''


def test_float_faults_show_in_the_strip_as_non_finite_counts(tmp_path, monkeypatch):
    """A density that is NaN on a half-plane: proposals there are rejected and counted, the
    session goes on, and the strip says how many (issue 15: faults shown in the dashboard)."""
    f = tmp_path / "nan_half.py"
    f.write_text(NAN_HALF_PLANE)
    monkeypatch.setenv(catalog.ENV_VAR, str(f))
    catalog.reload()
    try:
        w = small(target="nan_half", stage="metropolis", walkers=100, metropolis_scale=2.0)
        try:
            frame = None
            for _ in range(40):  # no thread: each advance runs a frame; stats refresh every 0.5 s
                w.advance(frames=1)
                fr = w.take_frame()
                if fr is not None and fr.stats is not None and fr.stats.a.strip.nonfinite > 0:
                    frame = fr
                    break
                time.sleep(0.05)
            assert frame is not None and not frame.error
            html = strip_html(frame)
            assert "non-finite" in html and f">{frame.stats.a.strip.nonfinite:,}<" in html
            assert np.all(w.sampler.state.positions[:, 0] <= 1.0)  # never moved into the NaN region
        finally:
            w.close()
    finally:
        monkeypatch.delenv(catalog.ENV_VAR)
        catalog.reload()
