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
