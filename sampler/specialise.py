"""The 2-D diffusion path specialised for one target, compiled in the background.

The kernels take the target's log density as a function pointer (`targets._jit`: compiled
once, cached on disk, nothing compiled per target). In 2-D that call is the largest cost of
a step beyond the density itself: x86-64 has no callee-saved floating-point registers, so
what the trajectory keeps in registers (point, momentum, gradient, stream state) is saved
and reloaded around each of the step's two calls. After `start(target)`, a background thread
compiles a copy of `diffusion._trajectory_2d` with the target's log density inlined,
beginning when the next diffusion sweep ends (the kernels that sweep loads are loaded by
then); the sweep calls the 2-D path through a pointer once per trajectory, so from the first
sweep after the copy is ready it runs the copy (13-17% more steps/s on the benchmark's
mixture: benchmarks/RESULTS.md, "Core speed (#14)").

Same draws: the copy runs the same floating-point operations in the same order, and before
it is used it must reproduce the general path bit for bit on probe sweeps (two settings,
8 walkers, 40 steps); a copy that differs (a log density compiled with ``fastmath``, say)
or fails to compile is never used, and `status` says why. So the moment of the switch,
which depends on the machine, never changes a draw.

The copy cannot go to numba's disk cache (it embeds the target), so each process compiles
it once per target (~10 s here, on the other core while the general path runs) and holds
numba's compiler lock meanwhile, which delays any kernel loaded in that time. Worth it for
long headless runs: `mdhmc run --specialise auto` (the default) starts it for a 2-D target
when the run's diffusion has at least `AUTO_MIN_STEPS` steps; the dashboard never does.
"""

from __future__ import annotations

import threading
import time
import types as _pytypes

import numba as nb
import numpy as np

__all__ = ["start", "ready", "sweep_done", "wait", "status", "worth_it", "AUTO_MIN_STEPS"]

#: walkers x steps x diffusion sweeps from which `mdhmc run --specialise auto` specialises: ~100 s
#: of diffusion on two threads here. Measured (`core_speed.py --with-compile`, fresh processes, 2
#: threads): 5e7 steps 8.8 s -> 15.9 s (the compile outlasts the run and slows it), 5e8 57.6 ->
#: 57.2 s, 1.5e9 172.8 -> 160.8 s
AUTO_MIN_STEPS = 1_000_000_000


class _Job:
    def __init__(self, target):
        self.target = target
        self.thread = None  # started after the first diffusion sweep (see `sweep_done`)
        self.done = threading.Event()
        self.kernel = None  # the checked copy, once ready
        self.state = "waiting for the first sweep"  # -> "compiling" -> "ready" | "not used: <why>"
        self.seconds = None  # compile + probe
        self.used = 0  # diffusion sweeps that ran it


_JOBS: dict = {}  # the target's log density (its numba dispatcher) -> _Job
_LOCK = threading.Lock()


def worth_it(target, walkers: int, steps: int, diffusion_sweeps: int) -> bool:
    """Whether `start` pays off for a run of this size (see `AUTO_MIN_STEPS`)."""
    return target.dim == 2 and walkers * steps * diffusion_sweeps >= AUTO_MIN_STEPS


def _with_globals(py, **names):
    """``py`` (a plain function) with some of its global names bound to other objects."""
    glb = dict(py.__globals__)
    glb.update(names)
    fn = _pytypes.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, py.__closure__)
    fn.__qualname__, fn.__doc__, fn.__module__ = py.__qualname__, py.__doc__, py.__module__
    return fn


def _compile(log_density):
    from . import diffusion as d

    # inline="always" inlines at numba's IR level: the density's code becomes part of the
    # trajectory's, with nothing spilled around it
    inlined = nb.njit(inline="always", nogil=True)(log_density.py_func)
    lp_at = nb.njit(inline="always", nogil=True)(_with_globals(d._lp_at_target, _TARGET_LOG_DENSITY=inlined))
    spsa = nb.njit(inline="always", nogil=True)(_with_globals(d._spsa_2d.py_func, _lp_at=lp_at))
    copy = _with_globals(d._trajectory_2d.py_func, _lp_at=lp_at, _spsa_2d=spsa)
    return nb.njit(d.TRAJECTORY_2D_SIGNATURE, nogil=True)(copy)  # with a signature: compiled here


def _probe_differs(target, kernel) -> str | None:
    """Run the general 2-D path and ``kernel`` on the same probe sweeps: what differs, if anything."""
    from . import diffusion as d
    from .ensemble import init
    from .settings import Settings

    for s in (Settings.thread(steps=40), Settings(steps=40, step_size=0.05)):
        p = d.DiffusionParams.from_settings(s)
        outs = []
        for traj in (d._trajectory_2d, kernel):
            st, info = d.build_kernel(target, tracked=-1, trajectory_2d=traj)(init(target, 8, 20171), p)
            totals = np.array([v for v in info if isinstance(v, (int, float))], dtype=np.float64)
            outs.append((st.positions, st.log_density, st.rng, info.step_dh2, totals))
        if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(*outs)):
            return "its draws differ from the general kernel's on a probe sweep"
    return None


def _run(target, job):
    t0 = time.perf_counter()
    try:
        kernel = _compile(target.log_density)
        why = _probe_differs(target, kernel)
    except Exception as exc:  # noqa: BLE001 -- whatever fails, the general kernel stays in use
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        kernel, why = None, f"compile failed ({type(exc).__name__}: {first})"
    job.seconds = time.perf_counter() - t0
    if why is None:
        job.kernel, job.state = kernel, "ready"
    else:
        job.state = f"not used: {why}"
    job.done.set()


def start(target) -> bool:
    """Ask for ``target``'s specialised 2-D path (once per process and target). It compiles in a
    background thread from the end of the next diffusion sweep on: numba's compiler lock, held by
    the compile, would otherwise make that sweep wait for the kernels it still has to load.
    False where there is none to make: not 2-D, or a log density that is not a numba function."""
    lp = target.log_density
    if target.dim != 2 or getattr(lp, "py_func", None) is None:
        return False
    with _LOCK:
        if lp not in _JOBS:
            _JOBS[lp] = _Job(target)
    return True


def _spawn(job) -> None:
    with _LOCK:
        if job.thread is not None:
            return
        job.state = "compiling"
        job.thread = threading.Thread(target=_run, args=(job.target, job), daemon=True,
                                      name=f"mdhmc-specialise-{job.target.name}")
    job.thread.start()


def sweep_done(log_density) -> None:
    """Called by the diffusion kernel after each sweep: starts a requested compile."""
    job = _JOBS.get(log_density)
    if job is not None and job.thread is None:
        _spawn(job)


def ready(log_density):
    """The checked specialised 2-D path for this log density, or None (not started, not ready,
    not used); the diffusion kernel asks once per sweep, and a sweep that gets it is counted."""
    job = _JOBS.get(log_density)
    if job is None or job.kernel is None:
        return None
    job.used += 1
    return job.kernel


def wait(target, timeout: float | None = None) -> bool:
    """Wait for ``target``'s copy (asked for by `start`; compiling from now if no sweep started
    it yet); True if it is ready and in use."""
    job = _JOBS.get(target.log_density)
    if job is None:
        return False
    _spawn(job)
    return job.done.wait(timeout) and job.kernel is not None


def status(target) -> dict | None:
    """{"state": "waiting for the first sweep" | "compiling" | "ready" | "not used: ...",
    "seconds": compile + probe time,
    "sweeps": diffusion sweeps that ran the copy so far} or None (never started)."""
    job = _JOBS.get(target.log_density)
    if job is None:
        return None
    return {"state": job.state, "seconds": None if job.seconds is None else round(job.seconds, 2), "sweeps": job.used}
