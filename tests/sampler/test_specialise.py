"""The target-inlined 2-D diffusion path (`sampler.specialise`): compiled in the background,
used from the next sweep once ready, and the same draws as the general path; a copy that
does not reproduce the general path on the probe sweeps is never used (negative control)."""

from __future__ import annotations

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings, diffusion, specialise


def _run(t, use_copy: bool, monkeypatch):
    if not use_copy:
        monkeypatch.setattr(specialise, "ready", lambda log_density: None)
    s = Sampler(t, Settings.thread(walkers=24, steps=60, step_size=0.05, diffusion_sweeps=4, seed=8), stage="diffusion")
    res = s.run()
    monkeypatch.undo()
    return res


def test_the_inlined_copy_runs_and_gives_the_same_draws(monkeypatch):
    t = targets.get("scorpio")
    assert specialise.start(t)
    assert specialise.wait(t, timeout=600), specialise.status(t)
    before = specialise.status(t)["sweeps"]
    general = _run(t, False, monkeypatch)
    assert specialise.status(t)["sweeps"] == before  # the general path really ran
    inlined = _run(t, True, monkeypatch)
    assert specialise.status(t)["sweeps"] == before + 4  # ... and here the copy, every sweep
    for key in ("final", "draws", "lp"):
        assert np.array_equal(general[key], inlined[key]), key


def test_not_started_for_other_dimensions():
    assert not specialise.start(targets.get("funnel", 3))
    assert specialise.status(targets.get("funnel", 3)) is None


def test_negative_control_a_copy_that_differs_is_never_used(monkeypatch):
    """A copy whose energy is off by one part in 1e12 must fail the probe and stay unused."""
    from numba import njit

    def _compile_off(log_density):
        kinetic = diffusion._kinetic_2d
        off = njit(inline="always")(lambda p0, p1, im0, im1: kinetic(p0, p1, im0, im1) * (1.0 + 1e-12))
        copy = specialise._with_globals(diffusion._trajectory_2d.py_func, _kinetic_2d=off)
        return njit(diffusion.TRAJECTORY_2D_SIGNATURE, nogil=True)(copy)

    monkeypatch.setattr(specialise, "_compile", _compile_off)
    t = targets.get("banana")
    assert specialise.start(t)
    assert not specialise.wait(t, timeout=600)
    state = specialise.status(t)["state"]
    assert state.startswith("not used") and "differ" in state, state
    assert specialise.ready(t.log_density) is None
