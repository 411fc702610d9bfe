"""Core speed benchmark (run on demand, not in the test suite).

    python benchmarks/core_speed.py                 # vs the hand loop, walker scaling, cold start
    python benchmarks/core_speed.py --base-python /tmp/venv-base/bin/python   # ... cold start before/after
    python benchmarks/core_speed.py --quick         # smaller workloads
    python benchmarks/core_speed.py --vs-hand       # only mdhmc vs the hand-written loop
    python benchmarks/core_speed.py --scaling       # only walker scaling
    python benchmarks/core_speed.py --cold-start    # only the cold start of a fresh process
    python benchmarks/core_speed.py --where         # where the time goes: kernel variants vs the hand loop
    python benchmarks/core_speed.py --with-compile  # fresh processes: the target-inlined copy's compile included
    python benchmarks/core_speed.py --per-target    # start-up per built-in target (slow: empty cache each)

Prints: mdhmc's diffusion stage (the thread's algorithm, `Settings.thread`) against a plain
hand-written numba ``prange`` loop of the same algorithm on a 4-Gaussian mixture in 2D, same
process, same threads, at 1 and 2 threads; the same against walker counts 10 .. 100,000; and
the cold start of a fresh process (import + first diffusion sweep), with an empty and with a
warm numba cache, for this checkout and (``--base-python``: the interpreter of an environment
with another checkout installed, e.g. the commit before) for another. The machine this was
written on is shared and noisy: every number is the best of several interleaved repeats, and
every ratio is against its peer measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

from mdhmc import targets
from mdhmc.sampler import Settings, diffusion
from mdhmc.sampler.ensemble import init
from mdhmc.sampler.rng import next_u64

COMPILE_SNIPPET = r"""
import time, json, sys
t0 = time.perf_counter()
from mdhmc import targets
from mdhmc.sampler import Sampler, Settings
t = targets.get(sys.argv[1])
t1 = time.perf_counter()
s = Sampler(t, Settings(walkers=8, steps=4, diffusion_sweeps=1, sweeps=2, warmup=1))
s.run()
s.set_stage("hmc"); s.sweep()
print(json.dumps({"import_s": t1 - t0, "first_run_s": time.perf_counter() - t1}))
"""


def diffusion_rate(walkers, steps, step_size, threads, repeats=1):
    numba.set_num_threads(threads)
    t = targets.get("scorpio")
    state = init(t, walkers, 0)
    step = diffusion.build_kernel(t, tracked=-1)
    p = diffusion.DiffusionParams.from_settings(Settings(steps=steps, step_size=step_size))
    step(init(t, 4, 1), p._replace(steps=2))  # compiled before timing
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, info = step(state, p)
        dt = time.perf_counter() - t0
        if best is None or dt < best[0]:
            best = (dt, info)
    dt, info = best
    return dt, info.steps / dt, info.lp_evals / dt


def compile_times(name):
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "cached"):
            r = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET, name], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr[-2000:])
            out[label] = json.loads(r.stdout.strip().splitlines()[-1])
    return out

# ---------------------------------------------------------------- the hand-written reference
# A 4-component Gaussian mixture in 2D written here, not a built-in target: the hand loop
# inlines it, mdhmc gets it through the target contract (`targets.Target`).
MIX_MEANS = np.array([[-2.0, -2.0], [2.0, -1.5], [-1.5, 2.5], [2.5, 2.0]])
MIX_SDS = np.array([0.6, 0.8, 0.5, 0.9])
MIX_LOG_W = np.log(np.array([0.3, 0.2, 0.25, 0.25]))


@numba.njit(nogil=True, cache=True, inline="always")
def _mixture(x0, x1):
    """The mixture's log density at (x0, x1) (online log-sum-exp), on scalars."""
    best = -np.inf
    acc = 0.0
    for k in range(4):
        dx = x0 - MIX_MEANS[k, 0]
        dy = x1 - MIX_MEANS[k, 1]
        s = MIX_SDS[k]
        t = MIX_LOG_W[k] - 2.0 * math.log(s) - 0.5 * (dx * dx + dy * dy) / (s * s)
        if t > best:
            acc = acc * math.exp(best - t) + 1.0
            best = t
        else:
            acc += math.exp(t - best)
    return best + math.log(acc)


@numba.njit(nogil=True, cache=True)
def mixture_lp(x):
    return _mixture(x[0], x[1])


def mixture_target():
    from mdhmc.targets import Target, validate

    return validate(Target("mixture-4", 2, mixture_lp, bounds=((-5.0, 5.0), (-5.0, 5.0)), source="benchmark"))


@numba.njit(nogil=True, cache=True, inline="always")
def _uniform(s, i):
    return ((next_u64(s, i) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(nogil=True, cache=True, parallel=True)
def hand_loop(x, lp, rng, trajectories, n_steps, eps, delta, gain, noise, trigger, c):
    """The thread's algorithm written out: leapfrog with one-sided SPSA, trigger, thermostat,
    noise, weights -(Herr/delta)^2 + lp, streaming Gumbel-max; unit mass, 2D."""
    sq = math.sqrt(eps)
    for i in numba.prange(x.shape[0]):
        x0 = x[i, 0]
        x1 = x[i, 1]
        lpx = lp[i]
        for _ in range(trajectories):
            u1 = _uniform(rng, i)
            u2 = _uniform(rng, i)
            r = math.sqrt(-2.0 * math.log(u1))
            p0 = r * math.cos(2.0 * math.pi * u2)
            p1 = r * math.sin(2.0 * math.pi * u2)
            h_star = -lpx + 0.5 * (p0 * p0 + p1 * p1)
            h = h_star
            bits = next_u64(rng, i)
            d0 = 1.0 if bits & np.uint64(1) else -1.0
            d1 = 1.0 if bits & np.uint64(2) else -1.0
            diff = (_mixture(x0 + c * d0, x1 + c * d1) - lpx) / c
            g0 = diff * d0
            g1 = diff * d1
            best_key = lpx - math.log(-math.log(_uniform(rng, i)))
            b0, b1, blp = x0, x1, lpx
            c0, c1, clp = x0, x1, lpx
            for t in range(n_steps):
                h_before = h
                p0 += 0.5 * eps * g0
                p1 += 0.5 * eps * g1
                c0 += eps * p0
                c1 += eps * p1
                clp = _mixture(c0, c1)
                bits = next_u64(rng, i)
                d0 = 1.0 if bits & np.uint64(1) else -1.0
                d1 = 1.0 if bits & np.uint64(2) else -1.0
                diff = (_mixture(c0 + c * d0, c1 + c * d1) - clp) / c
                g0 = diff * d0
                g1 = diff * d1
                p0 += 0.5 * eps * g0
                p1 += 0.5 * eps * g1
                h = -clp + 0.5 * (p0 * p0 + p1 * p1)
                if abs(h - h_before) > trigger:
                    u1 = _uniform(rng, i)
                    u2 = _uniform(rng, i)
                    r = math.sqrt(-2.0 * math.log(u1))
                    p0 = r * math.cos(2.0 * math.pi * u2)
                    p1 = r * math.sin(2.0 * math.pi * u2)
                else:
                    f = math.exp(-gain * (h - h_star) * eps)
                    u1 = _uniform(rng, i)
                    u2 = _uniform(rng, i)
                    r = math.sqrt(-2.0 * math.log(u1))
                    p0 = p0 * f + noise * sq * r * math.cos(2.0 * math.pi * u2)
                    p1 = p1 * f + noise * sq * r * math.sin(2.0 * math.pi * u2)
                h = -clp + 0.5 * (p0 * p0 + p1 * p1)
                herr = (h - h_star) / delta
                key = -herr * herr + clp - math.log(-math.log(_uniform(rng, i)))
                if key > best_key:
                    best_key = key
                    b0, b1, blp = c0, c1, clp
            x0, x1, lpx = b0, b1, blp
        x[i, 0] = x0
        x[i, 1] = x1
        lp[i] = lpx


@numba.njit(nogil=True, cache=True, parallel=True)
def hand_loop_numpy(x, lp, trajectories, n_steps, eps, delta, gain, noise, trigger, c):
    """`hand_loop` as a user would write it with numba's own ``np.random`` (a Mersenne Twister per
    thread; normals by the polar method): not reproducible across thread counts."""
    sq = math.sqrt(eps)
    for i in numba.prange(x.shape[0]):
        x0 = x[i, 0]
        x1 = x[i, 1]
        lpx = lp[i]
        for _ in range(trajectories):
            p0 = np.random.standard_normal()
            p1 = np.random.standard_normal()
            h_star = -lpx + 0.5 * (p0 * p0 + p1 * p1)
            h = h_star
            d0 = 1.0 if np.random.random() < 0.5 else -1.0
            d1 = 1.0 if np.random.random() < 0.5 else -1.0
            diff = (_mixture(x0 + c * d0, x1 + c * d1) - lpx) / c
            g0 = diff * d0
            g1 = diff * d1
            best_key = lpx - math.log(-math.log(np.random.random()))
            b0, b1, blp = x0, x1, lpx
            c0, c1, clp = x0, x1, lpx
            for t in range(n_steps):
                h_before = h
                p0 += 0.5 * eps * g0
                p1 += 0.5 * eps * g1
                c0 += eps * p0
                c1 += eps * p1
                clp = _mixture(c0, c1)
                d0 = 1.0 if np.random.random() < 0.5 else -1.0
                d1 = 1.0 if np.random.random() < 0.5 else -1.0
                diff = (_mixture(c0 + c * d0, c1 + c * d1) - clp) / c
                g0 = diff * d0
                g1 = diff * d1
                p0 += 0.5 * eps * g0
                p1 += 0.5 * eps * g1
                h = -clp + 0.5 * (p0 * p0 + p1 * p1)
                if abs(h - h_before) > trigger:
                    p0 = np.random.standard_normal()
                    p1 = np.random.standard_normal()
                else:
                    f = math.exp(-gain * (h - h_star) * eps)
                    p0 = p0 * f + noise * sq * np.random.standard_normal()
                    p1 = p1 * f + noise * sq * np.random.standard_normal()
                h = -clp + 0.5 * (p0 * p0 + p1 * p1)
                herr = (h - h_star) / delta
                key = -herr * herr + clp - math.log(-math.log(np.random.random()))
                if key > best_key:
                    best_key = key
                    b0, b1, blp = c0, c1, clp
            x0, x1, lpx = b0, b1, blp
        x[i, 0] = x0
        x[i, 1] = x1
        lp[i] = lpx


def hand_rate(walkers, trajectories, steps, step_size, threads, numpy_rng=False):
    """Steps/s of `hand_loop` (``numpy_rng``: `hand_loop_numpy`), compiled before timing."""
    from mdhmc.sampler.rng import seed_streams

    numba.set_num_threads(threads)
    s = Settings.thread()
    args = (steps, step_size, s.delta, s.viscosity_gain, s.noise, s.trigger, s.spsa_c)
    start = init(mixture_target(), walkers, 0)  # the same starting points as the Sampler's
    x, lp = start.positions, start.log_density
    if numpy_rng:
        hand_loop_numpy(x[:2].copy(), lp[:2].copy(), 1, 2, *args[1:])
        t0 = time.perf_counter()
        hand_loop_numpy(x, lp, trajectories, *args)
    else:
        hand_loop(x[:2].copy(), lp[:2].copy(), seed_streams(1, 2), 1, 2, *args[1:])
        rng = seed_streams(0, walkers)
        t0 = time.perf_counter()
        hand_loop(x, lp, rng, trajectories, *args)
    return walkers * trajectories * steps / (time.perf_counter() - t0)


def mdhmc_rate(walkers, trajectories, steps, step_size, threads, specialised=False):
    """Steps/s of ``Sampler(stage="diffusion")`` on the thread's algorithm, same workload
    (every sweep: Python driver, recording and statistics included), after a warm-up run.
    ``specialised``: with the target-inlined 2-D path (`sampler.specialise`), compiled and
    checked before timing; else the general path."""
    from mdhmc.sampler import Sampler, specialise

    numba.set_num_threads(threads)
    t = mixture_target()
    if specialised:
        specialise.start(t)
        specialise.wait(t)
    ready = specialise.ready
    if not specialised:  # the general path, even once this process has the copy
        specialise.ready = lambda log_density: None
    try:
        Sampler(t, Settings.thread(walkers=4, steps=2, diffusion_sweeps=1), stage="diffusion").run()
        sampler = Sampler(t, Settings.thread(walkers=walkers, steps=steps, step_size=step_size,
                                             diffusion_sweeps=trajectories), stage="diffusion")
        t0 = time.perf_counter()
        sampler.run()
        return sampler.totals["steps"] / (time.perf_counter() - t0)
    finally:
        specialise.ready = ready


def versus_hand(walkers=100, trajectories=100, steps=5000, step_size=0.002, threads=(1, 2), rounds=10):
    """The workload in ``rounds`` interleaved parts (hand, mdhmc, ...); the best part of each
    counts, so that a load spike on a shared machine does not decide the ratio."""
    print(f"## Diffusion vs a hand-written numba loop: 4-Gaussian mixture in 2D, {walkers} walkers x "
          f"{trajectories} trajectories x {steps:,} steps, step {step_size} (best of {rounds} interleaved parts)\n")
    print("Two hand loops: `hand_loop` draws from the sampler's own xoshiro streams (Box-Muller normals,\n"
          "-log(-log u) Gumbel keys); `hand_loop_numpy` from numba's `np.random`, as a user would write it.\n"
          "mdhmc: the general 2-D path (target through a function pointer), and the copy with the target\n"
          "inlined (`sampler.specialise`, steady state: compiled before timing).\n")
    print("| threads | hand loop (xoshiro) | hand loop (np.random) | mdhmc general | mdhmc target inlined "
          "| general / hand (xoshiro) | inlined / hand (xoshiro) | general / hand (np.random) "
          "| inlined / hand (np.random) |\n|---|---|---|---|---|---|---|---|---|")
    out = {}
    part = max(1, trajectories // rounds)
    for th in threads:
        best = dict.fromkeys(("hand", "hand_np", "general", "inlined"), 0.0)
        for _ in range(rounds):
            best["hand"] = max(best["hand"], hand_rate(walkers, part, steps, step_size, th))
            best["general"] = max(best["general"], mdhmc_rate(walkers, part, steps, step_size, th))
            best["hand_np"] = max(best["hand_np"], hand_rate(walkers, part, steps, step_size, th, numpy_rng=True))
            best["inlined"] = max(best["inlined"], mdhmc_rate(walkers, part, steps, step_size, th, specialised=True))
        out[th] = {k: v for k, v in best.items()}
        h, hn, g, i = best["hand"], best["hand_np"], best["general"], best["inlined"]
        print(f"| {th} | {h / 1e6:.2f} M | {hn / 1e6:.2f} M | {g / 1e6:.2f} M | {i / 1e6:.2f} M | {g / h:.2f}x "
              f"| {i / h:.2f}x | {g / hn:.2f}x | {i / hn:.2f}x |", flush=True)
    return out


WITH_COMPILE_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from benchmarks.core_speed import mixture_target
from mdhmc.sampler import Sampler, Settings, specialise
t = mixture_target()
if sys.argv[1] == "inlined":
    specialise.start(t)
s = Sampler(t, Settings.thread(walkers=int(sys.argv[2]), steps=5000, step_size=0.002,
                               diffusion_sweeps=int(sys.argv[3])), stage="diffusion")
s.run()
print(json.dumps({"wall_s": time.perf_counter() - t0, "status": specialise.status(t)}))
"""


def with_compile(runs=((100, 100), (1000, 100), (1000, 300)), repeats=1):
    """Fresh processes (warm numba cache), import to last sweep: the general path against
    `specialise.start` at the beginning, whose ~10 s compile runs beside the sampler from the
    end of the first sweep on."""
    print("## The issue's workload in a fresh process, compile included (warm numba cache, 2 threads)\n")
    print("| walkers x trajectories x steps | general: wall s | target inlined, started at the beginning: wall s "
          "| compile s | sweeps that ran the inlined copy |\n|---|---|---|---|---|")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for walkers, trajectories in runs:
        best = {}
        for _ in range(repeats):
            for kind in ("general", "inlined"):
                r = subprocess.run([sys.executable, "-c", WITH_COMPILE_SNIPPET, kind, str(walkers), str(trajectories)],
                                   capture_output=True, text=True, cwd=here)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr[-2000:])
                got = json.loads(r.stdout.strip().splitlines()[-1])
                if kind not in best or got["wall_s"] < best[kind]["wall_s"]:
                    best[kind] = got
        st = best["inlined"]["status"]
        print(f"| {walkers:,} x {trajectories} x 5,000 | {best['general']['wall_s']:.1f} | "
              f"{best['inlined']['wall_s']:.1f} | {st['seconds'] if st['seconds'] is not None else '-'} | "
              f"{st['sweeps']} of {trajectories} |", flush=True)


# ---------------------------------------------------------------- where the time goes
# Variants of the 2-D trajectory kernel (`diffusion._trajectory_2d`, the path the thread's
# algorithm takes in 2-D), each with one thing taken out or changed (compiled here from the
# kernel's source; a variant whose source anchor no longer exists is skipped). None of these
# is the sampler's algorithm: they only say what each piece costs.
ABLATIONS = {
    "no per-step statistics": [("        sdh2 += (h - h_before) ** 2\n", ""),
                               ("        sums = _point_sums_add(sums, lp_cur, kin, h, herr)\n", "")],
    "no Gumbel draw per point": [("        key = logw + -math.log(e)\n", "        key = logw\n")],
    "no momentum noise": [("            if noise > 0.0:\n", "            if False:\n")],
    "no finiteness checks": [("        if not math.isfinite(lp_cur):\n", "        if False:\n"),
                             ("        if not ok:\n", "        if False:\n")],
    "no mass terms (unit mass assumed)": [("    im0, im1 = inv_mass[0], inv_mass[1]\n", "    im0, im1 = 1.0, 1.0\n"),
                                          ("    sm0, sm1 = sqrt_mass[0], sqrt_mass[1]\n", "    sm0, sm1 = 1.0, 1.0\n")],
}


def _variant(edits, inline_target=None):
    """The 2-D path with ``edits`` (None where an anchor is gone), compiled from its source with
    `_trajectory_2d`'s signature, and a sweep that runs it (the sweep calls it through a pointer);
    ``inline_target``: with that target's log density inlined, as `sampler.specialise` does."""
    import inspect

    from mdhmc.sampler import specialise

    code = inspect.getsource(diffusion._trajectory_2d.py_func).split("\n", 1)[1]  # without the decorator
    for old, new in edits:
        if old not in code:
            return None
        code = code.replace(old, new)
    ns = dict(vars(diffusion))
    if inline_target is not None:
        density = numba.njit(inline="always")(inline_target.log_density.py_func)
        ns["_lp_at"] = numba.njit(inline="always")(specialise._with_globals(diffusion._lp_at_target,
                                                                            _TARGET_LOG_DENSITY=density))
        ns["_spsa_2d"] = numba.njit(inline="always")(specialise._with_globals(diffusion._spsa_2d.py_func,
                                                                              _lp_at=ns["_lp_at"]))
    exec(code, ns)  # noqa: S102 -- the kernel's own source, edited above
    trajectory = numba.njit(diffusion.TRAJECTORY_2D_SIGNATURE, nogil=True)(ns["_trajectory_2d"])

    def sweep(log_density, grad_log_density, _trajectory_2d, *rest):
        diffusion_sweep(log_density, grad_log_density, trajectory, *rest)

    diffusion_sweep = diffusion.diffusion_sweep
    return sweep


def where_time_goes(walkers=20, steps=10_000, step_size=0.002, rounds=40):
    """1 thread, CPU time (robust to a busy machine), best of ``rounds`` interleaved runs; the
    ablations are made on the target-inlined copy (the fastest path)."""
    from mdhmc.sampler.rng import seed_streams

    numba.set_num_threads(1)
    t = mixture_target()
    s = Settings.thread(steps=steps, step_size=step_size)
    p = diffusion.DiffusionParams.from_settings(s)
    kernels = {"general path (target through a function pointer)": diffusion.diffusion_sweep,
               "target inlined (`sampler.specialise`'s copy)": _variant([], inline_target=t)}
    for name, edits in ABLATIONS.items():
        k = _variant(edits, inline_target=t)
        if k is not None:
            kernels[f"target inlined, {name}"] = k
    general = diffusion.diffusion_sweep

    def run(kernel):
        diffusion.diffusion_sweep = kernel
        try:
            step = diffusion.build_kernel(t, tracked=-1)
            st = init(t, walkers, 0)
            t0 = time.process_time()
            step(st, p)
            return walkers * steps / (time.process_time() - t0)
        finally:
            diffusion.diffusion_sweep = general

    def hand():
        st = init(t, walkers, 0)
        t0 = time.process_time()
        hand_loop(st.positions, st.log_density, seed_streams(0, walkers), 1, steps, step_size, s.delta,
                  s.viscosity_gain, s.noise, s.trigger, s.spsa_c)
        return walkers * steps / (time.process_time() - t0)

    for k in kernels.values():
        run(k)
    hand()
    got = {name: [] for name in [*kernels, "hand loop"]}
    for _ in range(rounds):
        for name, k in kernels.items():
            got[name].append(run(k))
        got["hand loop"].append(hand())
    print(f"## Where the time goes: 1 thread, CPU time, {rounds} interleaved rounds, {walkers} walkers x {steps:,} steps\n")
    print("| kernel | best steps/s | / hand loop (best) | / hand loop (90th percentile) |\n|---|---|---|---|")
    hb, h9 = max(got["hand loop"]), float(np.quantile(got["hand loop"], 0.9))
    for name, v in got.items():
        print(f"| {name} | {max(v) / 1e6:.2f} M | {max(v) / hb:.2f}x | {np.quantile(v, 0.9) / h9:.2f}x |")


COLD_SNIPPET = r"""
import time, json
t0 = time.perf_counter()
from mdhmc import targets
from mdhmc.sampler import Sampler, Settings
t1 = time.perf_counter()
s = Sampler(targets.get("scorpio"), Settings.thread(walkers=100, steps=1000, diffusion_sweeps=1), stage="diffusion")
s.sweep()
print(json.dumps({"import_s": t1 - t0, "first_sweep_s": time.perf_counter() - t1}))
"""


def _fresh_process(python, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    r = subprocess.run([python, "-c", COLD_SNIPPET], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def cold_start(pythons, warm_repeats=3):
    """Import + first diffusion sweep (scorpio, thread's settings, 100 walkers x 1,000 steps) in
    a fresh process: once with an empty numba cache, then best of ``warm_repeats`` with the
    cache that run left. ``pythons``: label -> interpreter (each with its own checkout)."""
    print("## Cold start: a fresh process, import + first diffusion sweep (scorpio, 100 walkers x 1,000 steps)\n")
    print(f"Empty cache: one run; warm cache: best of {warm_repeats} runs.\n")
    print("| code | empty: import s | empty: first sweep s | empty: total s | warm: import s | warm: first sweep s "
          "| warm: total s |\n|---|---|---|---|---|---|---|")
    out = {}
    for label, python in pythons.items():
        with tempfile.TemporaryDirectory() as cache:
            empty = _fresh_process(python, cache)
            warm = min((_fresh_process(python, cache) for _ in range(warm_repeats)),
                       key=lambda r: r["import_s"] + r["first_sweep_s"])
        out[label] = (empty, warm)
        cells = [f"{r[k]:.2f}" for r in (empty, warm) for k in ("import_s", "first_sweep_s")]
        print(f"| {label} | {cells[0]} | {cells[1]} | {empty['import_s'] + empty['first_sweep_s']:.2f} | {cells[2]} | "
              f"{cells[3]} | {warm['import_s'] + warm['first_sweep_s']:.2f} |", flush=True)
    return out


def kernel_rate(walkers, steps, step_size, threads, repeats):
    """Steps/s of one diffusion sweep of the kernel (`diffusion.build_kernel`, nothing tracked)
    and of `hand_loop` on the mixture, same walkers and starting points; best of ``repeats``
    interleaved pairs."""
    from mdhmc.sampler.rng import seed_streams

    numba.set_num_threads(threads)
    t = mixture_target()
    s = Settings.thread(steps=steps, step_size=step_size)
    p = diffusion.DiffusionParams.from_settings(s)
    step = diffusion.build_kernel(t, tracked=-1)
    step(init(t, 4, 1), p._replace(steps=2))  # compiled before timing
    ours = hand = 0.0
    for _ in range(repeats):
        st = init(t, walkers, 0)
        t0 = time.perf_counter()
        step(st, p)
        ours = max(ours, walkers * steps / (time.perf_counter() - t0))
        st = init(t, walkers, 0)
        t0 = time.perf_counter()
        hand_loop(st.positions, st.log_density, seed_streams(0, walkers), 1, steps, step_size, s.delta,
                  s.viscosity_gain, s.noise, s.trigger, s.spsa_c)
        hand = max(hand, walkers * steps / (time.perf_counter() - t0))
    return ours, hand


def walker_scaling(counts=(10, 100, 1000, 10_000, 100_000), threads=(1, 2), work=2_000_000):
    """Kernel steps/s per walker count (one sweep; at least 200 steps per trajectory and about
    ``work`` steps in all, so that the small counts are timed over more than a blink), against
    the hand loop on the same walkers."""
    print("## Walker scaling: one diffusion sweep (step 0.002), 4-Gaussian mixture in 2D, kernel vs hand loop "
          f"(steps per trajectory: max(200, {work:,} / walkers); best of 5 interleaved pairs, 3 from 10,000 walkers)\n")
    print("| walkers | steps | threads | mdhmc steps/s | hand loop steps/s | mdhmc / hand |\n|---|---|---|---|---|---|")
    out = {}
    for w in counts:
        steps = max(200, work // w)
        for th in threads:
            ours, hand = kernel_rate(w, steps, 0.002, th, repeats=5 if w < 10_000 else 3)
            out[(w, th)] = (ours, hand)
            print(f"| {w:,} | {steps:,} | {th} | {ours / 1e6:.2f} M | {hand / 1e6:.2f} M | {ours / hand:.2f}x |",
                  flush=True)
    return out


def thread_workload(quick):
    walkers, steps = (1000, 1000) if quick else (5000, 5000)
    max_threads = numba.config.NUMBA_NUM_THREADS
    print(f"## Diffusion on scorpio: {walkers} trajectories x {steps} steps, step 0.002 (numba {numba.__version__}, "
          f"{os.cpu_count()} cpus)\n")
    print("| threads | wall s | steps/s | lp evals/s |\n|---|---|---|---|")
    rates = {}
    for th in sorted({1, min(2, max_threads)}):
        dt, sps, eps = diffusion_rate(walkers, steps, 0.002, th)
        rates[th] = sps
        print(f"| {th} | {dt:.2f} | {sps / 1e6:.2f} M | {eps / 1e6:.2f} M |")
    if len(rates) == 2:
        print(f"\n2-thread speed-up: {rates[2] / rates[1]:.2f}x; threading layer: {numba.threading_layer()}")


def per_target_startup():
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    print("## Start-up per target: import + first sweep of every stage, in a fresh process\n")
    print("| target | cold: import s | cold: first run s | cached: import s | cached: first run s |\n|---|---|---|---|---|")
    for name in targets.names():
        c = compile_times(name)
        print(f"| {name} | {c['cold']['import_s']:.2f} | {c['cold']['first_run_s']:.2f} | "
              f"{c['cached']['import_s']:.2f} | {c['cached']['first_run_s']:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads (20 trajectories; scaling to 10,000)")
    ap.add_argument("--vs-hand", action="store_true", help="only the comparison with the hand-written loop")
    ap.add_argument("--scaling", action="store_true", help="only walker scaling")
    ap.add_argument("--cold-start", action="store_true", help="only the cold start of a fresh process")
    ap.add_argument("--base-python", help="interpreter of an environment with the checkout to compare with installed")
    ap.add_argument("--where", action="store_true", help="only where the time goes (kernel variants, 1 thread)")
    ap.add_argument("--per-target", action="store_true", help="only start-up per built-in target (slow)")
    ap.add_argument("--thread-workload", action="store_true", help="only scorpio, 5,000 x 5,000 (the thread's run)")
    ap.add_argument("--with-compile", action="store_true",
                    help="only the workload in fresh processes, the target-inlined copy's compile included")
    args = ap.parse_args(argv)
    threads = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})
    if args.where:
        return where_time_goes()
    if args.per_target:
        return per_target_startup()
    if args.thread_workload:
        return thread_workload(args.quick)
    if args.with_compile:
        return with_compile()
    only = args.vs_hand or args.scaling or args.cold_start
    if args.vs_hand or not only:
        versus_hand(trajectories=20 if args.quick else 100, threads=threads)
        print()
    if args.scaling or not only:
        counts = (10, 100, 1000, 10_000) if args.quick else (10, 100, 1000, 10_000, 100_000)
        walker_scaling(counts, threads=threads)
        print()
    if args.cold_start or not only:
        pythons = {"this checkout": sys.executable}
        if args.base_python:
            pythons = {"base (--base-python)": args.base_python, **pythons}
        cold_start(pythons)
    return None


if __name__ == "__main__":
    main()
