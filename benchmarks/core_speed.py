"""Core speed benchmark (run on demand, not in the test suite).

    python benchmarks/core_speed.py            # full table (~1-2 min)
    python benchmarks/core_speed.py --quick    # smaller workload

Prints: diffusion steps/s and lp evals/s on scorpio for the thread's workload (5,000
trajectories x 5,000 steps, step 0.002) with 1 and 2 numba threads; compile time per
target, cold (fresh process, empty numba cache) and cached (fresh process, warm cache);
and scaling with the number of walkers.
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


def hand_rate(walkers, trajectories, steps, step_size, threads):
    """Steps/s of `hand_loop` (compiled before timing)."""
    from mdhmc.sampler.rng import seed_streams

    numba.set_num_threads(threads)
    s = Settings.thread()
    args = (steps, step_size, s.delta, s.viscosity_gain, s.noise, s.trigger, s.spsa_c)
    x0 = mixture_target().box().mean(axis=1)
    x = np.tile(x0, (walkers, 1)) + np.random.default_rng(0).normal(size=(walkers, 2))
    lp = np.array([mixture_lp(xi) for xi in x])
    hand_loop(x[:2].copy(), lp[:2].copy(), seed_streams(1, 2), 1, 2, *args[1:])
    t0 = time.perf_counter()
    hand_loop(x, lp, seed_streams(0, walkers), trajectories, *args)
    return walkers * trajectories * steps / (time.perf_counter() - t0)


def mdhmc_rate(walkers, trajectories, steps, step_size, threads):
    """Steps/s of ``Sampler(stage="diffusion")`` on the thread's algorithm, same workload
    (every sweep: Python driver, recording and statistics included), after a warm-up run."""
    from mdhmc.sampler import Sampler

    numba.set_num_threads(threads)
    t = mixture_target()
    Sampler(t, Settings.thread(walkers=4, steps=2, diffusion_sweeps=1), stage="diffusion").run()
    sampler = Sampler(t, Settings.thread(walkers=walkers, steps=steps, step_size=step_size,
                                         diffusion_sweeps=trajectories), stage="diffusion")
    t0 = time.perf_counter()
    sampler.run()
    return sampler.totals["steps"] / (time.perf_counter() - t0)


def versus_hand(walkers=100, trajectories=100, steps=5000, step_size=0.002, threads=(1, 2)):
    print(f"## Diffusion vs a hand-written numba loop: 4-Gaussian mixture in 2D, {walkers} walkers x "
          f"{trajectories} trajectories x {steps:,} steps, step {step_size}\n")
    print("| threads | hand loop steps/s | mdhmc steps/s | mdhmc / hand |\n|---|---|---|---|")
    out = {}
    for th in threads:
        hand = hand_rate(walkers, trajectories, steps, step_size, th)
        ours = mdhmc_rate(walkers, trajectories, steps, step_size, th)
        out[th] = ours / hand
        print(f"| {th} | {hand / 1e6:.2f} M | {ours / 1e6:.2f} M | {ours / hand:.2f}x |")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 x 1,000 instead of the thread's 5,000 x 5,000")
    args = ap.parse_args(argv)
    walkers, steps = (1000, 1000) if args.quick else (5000, 5000)
    max_threads = numba.config.NUMBA_NUM_THREADS
    print(f"## Diffusion on scorpio: {walkers} trajectories x {steps} steps, step 0.002 (numba {numba.__version__}, "
          f"{os.cpu_count()} cpus, threading layer after run shown below)\n")
    print("| threads | wall s | steps/s | lp evals/s |\n|---|---|---|---|")
    rates = {}
    for th in sorted({1, min(2, max_threads)}):
        dt, sps, eps = diffusion_rate(walkers, steps, 0.002, th)
        rates[th] = sps
        print(f"| {th} | {dt:.2f} | {sps / 1e6:.2f} M | {eps / 1e6:.2f} M |")
    if len(rates) == 2:
        print(f"\n2-thread speed-up: {rates[2] / rates[1]:.2f}x; threading layer: {numba.threading_layer()}")
    numba.set_num_threads(max_threads)
    print("\n## Start-up per target: import + first sweep of every stage, in a fresh process\n")
    print("Kernels take the target as a first-class function, so they compile once for all targets\n"
          "(at import, when the numba cache is empty) and later processes load them from the cache.\n")
    print("| target | cold: import s | cold: first run s | cached: import s | cached: first run s |\n|---|---|---|---|---|")
    for name in targets.names():
        c = compile_times(name)
        print(f"| {name} | {c['cold']['import_s']:.2f} | {c['cold']['first_run_s']:.2f} | "
              f"{c['cached']['import_s']:.2f} | {c['cached']['first_run_s']:.2f} |")
    print("\n## Scaling with walkers (scorpio, 200 steps/trajectory, step 0.05, all threads)\n")
    print("| walkers | wall s | steps/s |\n|---|---|---|")
    for w in [10, 100, 1000, 10_000, 100_000]:
        dt, sps, _ = diffusion_rate(w, 200, 0.05, max_threads, repeats=3 if w <= 1000 else 1)
        print(f"| {w:,} | {dt:.4f} | {sps / 1e6:.2f} M |")


if __name__ == "__main__":
    main()
