"""Compile (or load from numba's cache) every kernel before the first click.

`ensure_started` is idempotent per process: the first call warms the default target
(scorpio: every stage) *synchronously*, then the other built-ins and the server's target
files in a background thread. The server calls it at start (`dashboard.server.serve`, or
``panel serve dashboard/app.py --warm``, which runs the app once at start-up); without
``--warm`` the first page view pays for it instead.

``MDHMC_WARM_TARGETS`` (comma-separated names) limits which targets are warmed and
``MDHMC_WARM_BLOCKING=1`` warms all of them before serving (tests and benchmarks use both).

Warming a target means: a tiny `Sampler` sweeps once in every phase (diffusion, trim,
Metropolis, tempering swaps, exact HMC), and its exact draws and density image are
computed into `dashboard.catalog`'s shared caches. ArviZ and scipy are imported too.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numba

numba.config.THREADING_LAYER = "threadsafe"  # before any parallel kernel runs in this process

from mdhmc.sampler import Sampler, Settings, jit  # noqa: E402

from . import catalog  # noqa: E402

__all__ = ["ensure_started", "warm_target", "wait", "status", "DEFAULT_FIRST"]

log = logging.getLogger("mdhmc.dashboard")

DEFAULT_FIRST = ("scorpio",)
ENV_TARGETS = "MDHMC_WARM_TARGETS"  # comma-separated target names to warm (default: all)
ENV_BLOCKING = "MDHMC_WARM_BLOCKING"  # "1": warm them all before serving (tests, benchmarks)
ORDER = ("funnel", "multimodal", "banana", "donut", "squiggle", "stiff-wells")

_lock = threading.Lock()
_started = False
_done: set = set()
_failed: dict = {}
_all_done = threading.Event()
_t0 = None


def warm_target(name: str) -> float:
    """Sweep a tiny ensemble through every phase of ``name``; returns seconds taken."""
    t0 = time.perf_counter()
    jit.compile_all()  # every sampler kernel, whichever the page will use (they compile on first use)
    t = catalog.get_target(name)
    s = Sampler(t, Settings(walkers=16, steps=3, diffusion_sweeps=1, sweeps=4, warmup=1, hmc_steps=2), stage="pipeline")
    s.sweep()  # diffusion (+ trim: diffusion_sweeps=1)
    catalog.mark_warm(catalog.kernel_key(t, "diffusion"))
    moves = set()
    for _ in range(64):  # tempering: Metropolis or swaps, at random; until both ran
        moves.add(s.sweep().get("move"))
        if moves >= {"metropolis", "swap"}:
            break
    catalog.mark_warm(catalog.kernel_key(t, "tempering"))
    s.set_stage("metropolis")
    s.sweep()
    catalog.mark_warm(catalog.kernel_key(t, "metropolis"))
    if t.has_gradient:
        s.set_stage("hmc")
        s.sweep()
        catalog.mark_warm(catalog.kernel_key(t, "hmc"))
    catalog.exact_draws(t)
    if t.dim >= 2:
        catalog.density_image(t, 0, t.dim - 1 if name == "funnel" else 1)
    return time.perf_counter() - t0


def _warm(names):
    for name in names:
        if name in _done:
            continue
        try:
            dt = warm_target(name)
            _done.add(name)
            log.info("mdhmc: kernels ready for %s (%.1f s)", name, dt)
        except Exception as exc:  # a user's file may fail here: the app reports it on use
            _failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("mdhmc: warming %s failed: %s", name, _failed[name].splitlines()[0] if _failed[name] else "")


def _libraries():
    """Import ArviZ and scipy.stats and run them once (ArviZ's first ESS takes ~0.4 s)."""
    try:
        import numpy as np

        from mdhmc.sampler import diagnostics

        rng = np.random.default_rng(0)
        diagnostics.ess_rhat(rng.standard_normal((8, 16, 2)))
        diagnostics.sliced_w1(rng.standard_normal((50, 2)), rng.standard_normal((50, 2)), n_directions=2)
        diagnostics.ks_statistics(rng.standard_normal((50, 2)), rng.standard_normal((50, 2)))
    except Exception:
        pass


def ensure_started(block_first: bool = True, background: bool = True) -> None:
    """Warm the default target now (``block_first``) and the rest in a background thread."""
    global _started, _t0
    with _lock:
        if _started:
            return
        _started = True
        _t0 = time.perf_counter()
    _libraries()
    names = catalog.target_names()
    wanted = os.environ.get(ENV_TARGETS, "").strip()
    if wanted:
        names = [n for n in (w.strip() for w in wanted.split(",")) if n in names]
    first = [n for n in DEFAULT_FIRST if n in names]
    rest = [n for n in ORDER if n in names and n not in first] + [n for n in names if n not in ORDER and n not in first]
    if os.environ.get(ENV_BLOCKING, "") not in ("", "0"):
        first, rest = first + rest, []
    if block_first:
        print(f"mdhmc: compiling kernels for {', '.join(first) or 'no target'} before serving pages…", flush=True)
        _warm(first)
        print(f"mdhmc: kernels ready ({time.perf_counter() - _t0:.1f} s); accepting pages"
              + ("; the other targets compile in the background" if rest else ""), flush=True)
    else:
        rest = first + rest

    def run():
        _warm(rest)
        _all_done.set()
        log.info("mdhmc: all kernels ready (%.1f s since start)", time.perf_counter() - _t0)
        print(f"mdhmc: all kernels ready ({time.perf_counter() - _t0:.1f} s)", flush=True)

    if background:
        threading.Thread(target=run, name="mdhmc-warmup", daemon=True).start()
    else:
        run()


def wait(timeout: float | None = None) -> bool:
    """Block until every target is warm (or ``timeout``); True if all are."""
    return _all_done.wait(timeout)


def status() -> dict:
    return {"started": _started, "done": sorted(_done), "failed": dict(_failed), "all_done": _all_done.is_set()}
