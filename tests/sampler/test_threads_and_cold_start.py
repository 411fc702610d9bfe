"""Walkers split over threads (`sampler.threads`), the diffusion sweep's two kernels, and a cold
start that compiles on two cores (`sampler.compile_helper`): same draws in every case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings, compile_helper, jit
from mdhmc.sampler.threads import Split, parts

REPO = Path(__file__).resolve().parents[2]
TWO_THREADS = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")


def test_parts_cover_the_block_in_near_equal_contiguous_pieces():
    assert parts(3, 10, 3) == [(3, 6), (6, 8), (8, 10)]
    assert parts(0, 2, 8) == [(0, 1), (1, 2)]  # never an empty part
    assert parts(5, 5, 2) == []
    for lo, hi, k in ((0, 1000, 2), (7, 1001, 5), (0, 3, 3)):
        ps = parts(lo, hi, k)
        assert ps[0][0] == lo and ps[-1][1] == hi and all(a[1] == b[0] for a, b in zip(ps, ps[1:]))
        sizes = [b - a for a, b in ps]
        assert max(sizes) - min(sizes) <= 1


@TWO_THREADS
def test_an_error_arrives_after_every_part_has_finished():
    """The caller's arrays must not be written once the error is raised: the other part is slow."""
    numba.set_num_threads(2)
    finished = []

    def body(a, b):
        if a == 0:
            raise ValueError("part 0")
        time.sleep(0.3)
        finished.append((a, b))

    try:
        split = Split()
        with pytest.raises(ValueError, match="part 0"):
            split(0, 10, body)
        assert finished == [(5, 10)]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@TWO_THREADS
def test_a_block_too_small_for_the_pool_runs_on_the_calling_thread():
    numba.set_num_threads(2)
    seen = []
    try:
        split = Split()
        split(0, 100, lambda a, b: seen.append(threading.get_ident()))
        assert len(set(seen)) == 2  # nothing learned yet: both threads
        split.seconds_per_walker = 1e-9  # 100 walkers: 0.1 us, far below MIN_PARALLEL_S
        seen.clear()
        split(0, 100, lambda a, b: seen.append(threading.get_ident()))
        assert seen == [threading.get_ident()]
        split.seconds_per_walker = 1.0  # negative control: a slow block goes to the pool again
        seen.clear()
        split(0, 100, lambda a, b: seen.append(threading.get_ident()))
        assert len(set(seen)) == 2
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def _run(monkeypatch, threaded: bool, target, stage: str, sweeps: int, tracked: int = 3, **settings):
    ran = set()
    run = jit.WalkerKernel.run

    def spy(self, split, lo, hi, part):
        ran.add(self.py_func.__name__ + ("" if threaded else "_serial"))
        return run(self, split, lo, hi, part)

    monkeypatch.setattr(jit.WalkerKernel, "ready", lambda self, ask=True: threaded)
    monkeypatch.setattr(jit.WalkerKernel, "run", spy)
    s = Sampler(target, Settings(walkers=40, steps=25, seed=11, **settings), stage=stage, tracked=tracked)
    for _ in range(sweeps):
        s.sweep()
    return s.state.positions.copy(), s.state.log_density.copy(), s.state.rng.copy(), s.last_tracked, ran


RUNS = {
    # the general path at 10-D (with the search) and the 2-D path on scorpio, each with a tracked walker
    "diffusion 10-D": (("stiff-wells", 10), "diffusion", 3, {"diffusion_sweeps": 5, "step_size": 0.05}),
    "diffusion 2-D": (("scorpio", None), "diffusion", 3, {"diffusion_sweeps": 5, "step_size": 0.05}),
    # the tempering half: the DE, stretch and DIME moves after a short diffusion
    "pipeline de+stretch": (("stiff-wells", 4), "pipeline", 12,
                            {"diffusion_sweeps": 2, "warmup": 4, "moves": "de+stretch", "step_size": 0.05}),
    "pipeline dime": (("stiff-wells", 4), "pipeline", 12,
                      {"diffusion_sweeps": 2, "warmup": 4, "moves": "dime", "step_size": 0.05}),
    "metropolis": (("banana", None), "metropolis", 6, {"warmup": 2, "moves": "rwm", "metropolis_scale": 0.5}),
    "hmc": (("funnel", 3), "hmc", 6, {"warmup": 2, "hmc_step_size": 0.05}),
}
FORMS = {"diffusion 10-D": ["diffusion_sweep", "_newton_walkers_probed"], "diffusion 2-D": ["diffusion_sweep"],
         "pipeline de+stretch": ["de_sweep", "stretch_sweep"], "pipeline dime": ["dime_sweep"],
         "metropolis": ["metropolis_sweep"],
         "hmc": ["hmc_sweep"]}


@pytest.mark.parametrize("case", list(RUNS))
def test_the_serial_and_the_threaded_walker_kernels_draw_the_same(monkeypatch, case):
    """A cold start runs each walker kernel's serial form on our threads until its ``prange`` form
    is compiled (`sampler.jit.WalkerKernel`): the switch must not change a draw, nor the tracked
    walker's recorded trajectory."""
    (name, dim), stage, sweeps, settings = RUNS[case]
    t = targets.get(name, dim=dim)
    x1, lp1, rng1, trk1, ran1 = _run(monkeypatch, False, t, stage, sweeps, **settings)
    x2, lp2, rng2, trk2, ran2 = _run(monkeypatch, True, t, stage, sweeps, **settings)
    for form in FORMS[case]:  # each form really ran
        assert form + "_serial" in ran1 and form in ran2, (form, sorted(ran1), sorted(ran2))
    assert np.array_equal(x1, x2) and np.array_equal(lp1, lp2) and np.array_equal(rng1, rng2)
    if stage == "diffusion":
        assert trk1 is not None and np.array_equal(trk1.positions, trk2.positions)
    # negative control: the comparison sees a step size changed in its ninth digit
    key = next(k for k in ("step_size", "hmc_step_size", "metropolis_scale") if k in settings)
    x3, *_ = _run(monkeypatch, True, t, stage, sweeps, **dict(settings, **{key: settings[key] * (1 + 1e-9)}))
    assert not np.array_equal(x2, x3)


CHILD = r"""
import json, sys
from mdhmc import targets
from mdhmc.sampler import Sampler, Settings, jit
s = Sampler(targets.get("stiff-wells", dim=4), Settings(walkers=24, steps=5, diffusion_sweeps=2, warmup=4, seed=5))
for _ in range(12):
    s.sweep()
hits = {k.py_func.__qualname__: sum(k.dispatcher.stats.cache_hits.values()) for k in jit._ALL if k.compiled}
from mdhmc.sampler import compile_helper
print(json.dumps({"x": s.state.positions.round(14).tolist(), "hits": hits,
                  "helpers": [p.pid for p in compile_helper._PROCS]}))
"""


def _cold_child(helper: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="mdhmc-cold-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, **{compile_helper.ENV: "1" if helper else "0"},
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=900)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(compile_helper._cores() < 2, reason="the helper needs a second core")
def test_a_cold_start_compiles_on_two_cores_with_the_same_draws():
    """Empty numba cache, fresh processes. With the helper, kernels it compiled load from the disk
    cache here (cache hits); without it (the negative control) nothing can hit an empty cache.
    The draws are the same either way."""
    shared = _cold_child(helper=True)
    alone = _cold_child(helper=False)
    assert shared["x"] == alone["x"]
    assert sum(alone["hits"].values()) == 0 and not alone["helpers"]
    assert sum(shared["hits"].values()) >= 1, shared["hits"]
    # the helper (still compiling the prange forms when the run ended) did not outlive its process
    assert shared["helpers"]
    for pid in shared["helpers"]:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.skipif(compile_helper._cores() < 2, reason="the helper needs a second core")
def test_a_helper_that_cannot_start_leaves_the_compiling_to_this_process(monkeypatch):
    """A broken helper must not be started again and again (every half second, by a walker kernel
    waiting for its prange form): after one dies, this process compiles everything itself."""
    monkeypatch.setattr(compile_helper, "_BROKEN", [])
    monkeypatch.setattr(compile_helper, "_SHARE", None)
    monkeypatch.delenv(compile_helper.ENV, raising=False)
    assert compile_helper._enabled()  # negative control: a helper may start before
    monkeypatch.setattr(compile_helper.sys, "executable", "/bin/false")
    k = jit.WalkerKernel.__new__(jit.WalkerKernel)  # only its name is read before the helper dies
    k.name = "mdhmc.sampler.nowhere:kernel"
    assert compile_helper.later(k)  # started, and dies at once
    deadline = time.monotonic() + 30
    while compile_helper._SHARE is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert compile_helper._SHARE is None and compile_helper._BROKEN
    assert not compile_helper._enabled()
    assert not compile_helper.later(k) and not compile_helper.share([])
