"""The dashboard's session model and views without a server (no browser, no Panel server).

Most tests run the Metropolis stage on small ensembles (its kernel compiles in seconds);
one runs the pipeline through diffusion.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mdhmc.dashboard import catalog
from mdhmc.dashboard.model import STAGE_CHOICES, Session, fmt, live_sessions
from mdhmc.dashboard.views import Views, strip_html
from mdhmc.sampler import Sampler, Settings
from mdhmc.sampler import presets as presets_mod
from dashboard_helpers import write_target_files

SMALL = dict(walkers=200, steps=10, warmup=5)


def small(**kw):
    return Session(**{**SMALL, **kw})


@pytest.fixture
def session():
    s = small(stage="metropolis")
    yield s
    s.close()


def test_defaults_match_the_dashboard_brief():
    s = Session()
    try:
        assert s.walkers == 2000 and s.steps == 100 and s.target == "scorpio" and s.stage == "pipeline"
        for name, label in [("step_size", "Step size"), ("delta", "Delta"), ("viscosity_gain", "Viscosity gain"),
                            ("t_hot", "Temperature")]:
            assert s.param[name].label == label
        assert set(STAGE_CHOICES) == {"diffusion", "metropolis", "tempering", "pipeline", "hmc", "side-by-side"}
    finally:
        s.close()


def test_parameter_changes_reach_the_sampler_without_a_reset(session):
    session.advance(3)
    x_before = session.sampler.state.positions.copy()
    sweeps = session.sampler.sweep_count
    session.param.update(step_size=0.0123, delta=0.7, viscosity_gain=2.5, t_hot=5.0, noise=0.1, hot=2.0,
                         trigger=7.0, steps=15, metropolis_auto=False, metropolis_scale=0.4)
    session.advance(1)
    st = session.sampler.settings
    assert (st.step_size, st.delta, st.viscosity_gain, st.t_hot, st.noise, st.hot, st.trigger, st.steps) == \
        (0.0123, 0.7, 2.5, 5.0, 0.1, 2.0, 7.0, 15)
    assert st.metropolis_scale == 0.4
    assert session.sampler.sweep_count == sweeps + 1  # no reset: the count goes on
    assert not np.array_equal(session.sampler.state.positions, x_before)  # and the walkers moved on
    snap = session.take_snapshot()
    assert snap["applied"]["step_size"] == 0.0123 and snap["applied"]["metropolis_scale"] == 0.4
    session.metropolis_auto = True
    session.advance(1)
    assert session.sampler.settings.metropolis_scale is None


def test_walkers_and_seed_reset(session):
    session.advance(2)
    session.walkers = 300
    session.advance(1)
    assert session.sampler.state.walkers == 300 and session.sampler.sweep_count == 1
    session.seed = 7
    session.advance(1)
    assert session.sampler.settings.seed == 7 and session.sampler.sweep_count == 1


def test_an_impossible_setting_is_refused_and_the_sampler_keeps_its_own(session):
    session.advance(1)
    session.param.update(walkers=6, rungs=8)
    session.advance(1)
    snap = session.take_snapshot()
    assert "need at least 16 walkers" in snap["error"] and not snap["paused_by_error"]
    assert session.sampler.settings.rungs == 2 and session.sampler.settings.walkers == 200


def test_reset_restores_the_dispersed_start(session):
    start = Sampler(catalog.get_target("scorpio"), session.settings(), stage="metropolis").state.positions
    session.advance(4)
    assert not np.allclose(session.sampler.state.positions, start)
    session.reset()
    session.pause()
    session.advance(1)
    assert session.sampler.sweep_count == 0
    np.testing.assert_allclose(session.sampler.state.positions, start)
    snap = session.take_snapshot()
    np.testing.assert_allclose(snap["walkers"]["x"], start[:, 0].astype(np.float32))


@pytest.mark.parametrize("stage", ["metropolis", "tempering", "hmc", "side-by-side", "metropolis"])
def test_stages_switch(session, stage):
    session.advance(1)
    session.stage = stage
    session.advance(2)
    if stage == "side-by-side":
        assert session.sampler.stage == "pipeline" and session.sampler_b is not None
        assert session.sampler_b.stage == "hmc"
        snap = session.take_snapshot()
        assert snap["layout"]["side_by_side"] and snap["walkers_b"] is not None
        assert snap["stats"]["b"] is not None
    else:
        assert session.sampler.stage == stage and session.sampler_b is None
        assert len(session.sampler.temperatures) == (2 if stage == "tempering" else 1)


def test_pipeline_advances_by_itself_and_records_energies():
    s = small(diffusion_sweeps=3, steps=20)
    try:
        phases = []
        for _ in range(6):
            s.advance(1)
            phases.append(s.sampler.phase)
        assert phases[0] == "diffusion" and phases[-1] == "tempering"
        snap = s.take_snapshot()
        e = snap["energy"]
        assert len(e["step"]) >= 3 * 21 and len(e["means"]["U"]) == 3
        assert np.isfinite(e["U"][np.isfinite(e["step"])]).all()
        s.stage = "diffusion"
        s.advance(1)
        tr = s.take_snapshot()["trajectory"]
        assert tr is not None and len(tr["x"]) == 21 and tr["chosen"] is not None
        assert tr["size"].max() > tr["size"].min()  # sized by weight
    finally:
        s.close()


def test_snapshots_are_plain_data_and_never_show_nan(session):
    session.advance(8)
    snap = session.take_snapshot()
    assert session.take_snapshot() is None  # newest wins, taken once
    assert snap["walkers"]["x"].dtype == np.float32 and snap["walkers"]["x"].shape == (200,)
    st = snap["stats"]["a"]
    assert st["qq"]["x"]["sample"].shape == st["qq"]["x"]["exact"].shape
    assert 0 <= st["qq"]["x"]["ks"] <= 1 and 0 <= st["qq"]["y"]["ks"] <= 1
    assert np.isclose(st["mass"].sum(), 1.0)
    html = strip_html(snap)
    assert "nan" not in html.lower() and "inf" not in html.lower()
    assert fmt(float("nan")) == "–" and fmt(None) == "–" and fmt(float("inf")) == "–" and fmt(0.5, ".2f") == "0.50"


def test_views_apply_every_stage_and_nd_coordinates():
    s = small(stage="metropolis")
    v = Views()
    try:
        for stage in ("metropolis", "tempering", "hmc", "side-by-side"):
            s.stage = stage
            s.advance(3)
            assert v.apply(s.take_snapshot())
            assert np.isclose(sum(v.m_src.data["a"]), 1.0)  # mass per component drawn
            assert v.qq["x"]["ks"].text.startswith("KS D = ") and len(v.qq["y"]["a"].data["sample"]) == 100
        assert v.cloud_b.fig.visible and len(v.cloud_b.walkers.data["x"]) == 200
        assert np.isclose(sum(v.m_src.data["b"]), 1.0) and "exact HMC" in v.qq["x"]["ks_b"].text
        s.param.update(stage="metropolis", target="funnel", dim=5)
        s.advance(2)
        assert (s.xcoord, s.ycoord) == (0, 4)  # funnel: x1 against v
        v.apply(s.take_snapshot())
        assert v.cloud.fig.xaxis[0].axis_label == "x1" and v.cloud.fig.yaxis[0].axis_label == "v"
        assert "slice" in v.cloud.note.text
        s.param.update(xcoord=2, ycoord=3)
        s.advance(1)
        snap = s.take_snapshot()
        assert snap["layout"]["labels"] == ("x3", "x4")
        np.testing.assert_allclose(snap["walkers"]["y"], s.sampler.state.positions[:, 3].astype(np.float32))
        v.apply(snap)
    finally:
        s.close()


def test_worker_thread_streams_applies_changes_and_stops():
    s = small(stage="metropolis", max_lag_s=0.05).start()
    try:
        assert s.running and s in live_sessions()
        first = s.wait_for(lambda sn: sn.get("sweep", 0) >= 3, timeout=60)
        assert first is not None
        s.step_size = 0.02
        snap = s.wait_for(lambda sn: sn.get("applied", {}).get("step_size") == 0.02, timeout=10)
        assert snap is not None
        s.pause()
        time.sleep(0.3)
        s.take_snapshot()
        n = s.sampler.sweep_count
        time.sleep(0.4)
        assert s.sampler.sweep_count == n  # paused: no sweeps
        s.step()
        assert s.wait_for(lambda sn: sn.get("sweep") == n + 1, timeout=10) is not None
        s.suspend(True)  # no browser connected: no sweeps, even while playing
        s.play()
        time.sleep(0.4)
        n = s.sampler.sweep_count
        time.sleep(0.4)
        assert s.sampler.sweep_count == n
        s.suspend(False)
        assert s.wait_for(lambda sn: sn.get("sweep", 0) > n + 2, timeout=10) is not None
        thread = s.thread
    finally:
        assert s.close(timeout=10)
    assert not thread.is_alive() and s not in live_sessions()


def test_two_sessions_do_not_share_state():
    a = small(stage="metropolis", seed=1, max_lag_s=0.05).start()
    b = small(stage="metropolis", seed=2, max_lag_s=0.05).start()
    try:
        assert a.wait_for(lambda sn: sn.get("sweep", 0) >= 2, 60) and b.wait_for(lambda sn: sn.get("sweep", 0) >= 2, 60)
        a.step_size = 0.031
        assert a.wait_for(lambda sn: sn.get("applied", {}).get("step_size") == 0.031, 10)
        assert b.sampler.settings.step_size == 0.05 and b.step_size == 0.05
        assert a.sampler is not b.sampler and a.sampler.state.positions is not b.sampler.state.positions
        assert not np.allclose(a.sampler.state.positions, b.sampler.state.positions)
        a.target = "banana"
        a.stage = "metropolis"
        assert a.wait_for(lambda sn: sn.get("layout", {}).get("target") == "banana", 60)
        assert b.sampler.target.name == "scorpio"
    finally:
        a.close()
        b.close()
    assert not a.running and not b.running


def test_a_failing_log_density_is_reported_and_the_session_goes_on(tmp_path, monkeypatch):
    good, bad = write_target_files(tmp_path)
    monkeypatch.setenv(catalog.ENV_VAR, f"{good}:{bad}")
    catalog.reload()
    try:
        assert "raiser" in catalog.target_names() and "broken" not in catalog.target_names()
        assert any("broken_target.py" in e for e in catalog.load_errors())
        s = Session(target="raiser", stage="metropolis", walkers=100, metropolis_auto=False, metropolis_scale=8.0,
                    max_lag_s=0.05).start()
        try:
            snap = s.wait_for(lambda sn: bool(sn.get("error")), timeout=60)
            assert snap is not None and "x0 left the model's domain" in snap["error"]
            assert snap["paused_by_error"] and s.running  # paused, thread alive
            s.playing = False
            s.param.update(metropolis_scale=0.01)  # small steps stay inside the domain
            s.reset()
            s.play()
            ok = s.wait_for(lambda sn: sn.get("sweep", 0) >= 5 and not sn["paused_by_error"], timeout=30)
            assert ok is not None
            s.stage = "hmc"  # no gradient: refused, back to the pipeline, with a message
            assert s.stage == "pipeline" and "no gradient" in s._error
        finally:
            s.close()
    finally:
        monkeypatch.delenv(catalog.ENV_VAR)
        catalog.reload()


@pytest.mark.parametrize("name", sorted(presets_mod.builtin_presets()))
def test_builtin_presets_apply_and_round_trip(name):
    preset = presets_mod.builtin_presets()[name]
    s = Session()
    try:
        s.apply_preset(preset)
        assert s.target == preset["target"]
        if preset.get("stage"):
            assert s.stage == preset["stage"]
        want = preset.apply(Settings())
        got = s.settings()
        for k in preset["settings"]:
            if k != "sweeps":
                assert getattr(got, k) == getattr(want, k), k
        back = presets_mod.loads(s.preset_json())
        again = Session()
        try:
            again.apply_preset(back)
            assert again.settings() == s.settings() and again.target == s.target and again.stage == s.stage
        finally:
            again.close()
    finally:
        s.close()


def test_presets_from_the_browser_cannot_load_files():
    s = Session()
    try:
        text = json.dumps({"format": "mdhmc-preset", "version": 1, "target": "/tmp/evil.py", "settings": {}})
        with pytest.raises(presets_mod.PresetError, match="not offered by this server"):
            s.apply_preset(text)
        with pytest.raises(presets_mod.PresetError):
            s.apply_preset('{"settings": {"step_size": -1}}')
        assert s.target == "scorpio"
    finally:
        s.close()
