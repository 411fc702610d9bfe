"""Dask speed: diffusion sweeps on Dask workers vs this process, with a costly log density.

    python benchmarks/dask_speed.py                           # LocalClusters of 1 and 2 workers
    python benchmarks/dask_speed.py --costs 0 1e-4 1e-3 --walkers 64 --steps 10
    python benchmarks/dask_speed.py --scheduler tcp://HOST:8786   # a real cluster (its workers as they are)

The density is a 2-D Gaussian plus a busy loop calibrated to take ``cost`` seconds per
evaluation (an ``@njit`` function, as the target contract asks; it pickles to the workers
by value). Every run uses the same seed, and the draws are checked equal. Printed: seconds
per diffusion sweep locally (all numba threads of this process) and on Dask, the speed-up,
and the per-sweep overhead of Dask (a sweep of a free density, one step per trajectory),
from which the evaluation cost where Dask starts to pay follows:

    Dask pays when  evaluations per sweep x cost x (1 - 1/speed-up at that cost) > overhead
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numba
import numpy as np

from mdhmc.sampler import Sampler, Settings
from mdhmc.targets import Target, validate


def costly_target(cost_s: float) -> Target:
    """A standard 2-D Gaussian whose every evaluation also burns about ``cost_s`` seconds."""
    reps = 0 if cost_s <= 0 else _calibrate(cost_s)

    @numba.njit(nogil=True)
    def log_density(x):
        acc = 0.0
        for r in range(reps):
            acc += math.sin(acc + r)
        return -0.5 * (x[0] * x[0] + x[1] * x[1]) + 1e-300 * acc

    return validate(Target(f"gauss-{cost_s:g}s", 2, log_density, bounds=((-4.0, 4.0), (-4.0, 4.0)),
                           source="benchmark"))


@numba.njit(nogil=True)
def _burn(reps):
    acc = 0.0
    for r in range(reps):
        acc += math.sin(acc + r)
    return acc


def _calibrate(cost_s: float) -> int:
    _burn(10)
    reps = 100_000
    t0 = time.perf_counter()
    _burn(reps)
    return max(1, int(reps * cost_s / (time.perf_counter() - t0)))


def seconds_per_sweep(target, settings, client=None):
    """Wall seconds per diffusion sweep (the first, which builds the blocks, not counted)."""
    s = Sampler(target, settings, stage="diffusion", client=client)
    s.sweep()
    t0 = time.perf_counter()
    for _ in range(settings.diffusion_sweeps - 1):
        s.sweep()
    return (time.perf_counter() - t0) / (settings.diffusion_sweeps - 1), s.state.positions.copy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--costs", type=float, nargs="+", default=[0.0, 1e-4, 1e-3], help="seconds per evaluation")
    ap.add_argument("--walkers", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--sweeps", type=int, default=3, help="diffusion sweeps per run (the first is not timed)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="LocalCluster sizes")
    ap.add_argument("--scheduler", help="a running scheduler instead of LocalClusters")
    args = ap.parse_args(argv)
    from distributed import Client, LocalCluster

    settings = Settings.thread(walkers=args.walkers, steps=args.steps, diffusion_sweeps=max(2, args.sweeps))
    evals = args.walkers * (2 * args.steps + 1)
    clusters = []
    if args.scheduler:
        clusters.append(("scheduler", lambda: Client(args.scheduler)))
    for n in args.workers:
        clusters.append((f"local:{n}", lambda n=n: Client(LocalCluster(
            n_workers=n, threads_per_worker=max(1, (os.cpu_count() or 1) // n), processes=True,
            dashboard_address=None, silence_logs=40))))
    print(f"## Diffusion on Dask: {args.walkers} walkers x {args.steps} steps per sweep ({evals:,} evaluations), "
          f"{os.cpu_count()} cpus, numba threads here: {numba.get_num_threads()}\n")
    targets = {c: costly_target(c) for c in args.costs}
    free = costly_target(0.0)
    one_step = settings.replace(steps=1)
    local = {c: seconds_per_sweep(t, settings) for c, t in targets.items()}
    local_free = seconds_per_sweep(free, one_step)[0]
    print("| where | cost per evaluation | s per sweep | speed-up vs here | same draws |\n|---|---|---|---|---|")
    for c in args.costs:
        print(f"| here | {c * 1e6:g} us | {local[c][0]:.3f} | 1.00x | - |")
    for name, make in clusters:
        client = make()
        try:
            client.wait_for_workers(1)
            overhead = seconds_per_sweep(free, one_step, client)[0] - local_free
            for c, t in targets.items():
                dt, x = seconds_per_sweep(t, settings, client)
                same = "yes" if np.array_equal(x, local[c][1]) else "NO"
                print(f"| {name} ({len(client.scheduler_info()['workers'])} workers) | {c * 1e6:g} us | {dt:.3f} | "
                      f"{local[c][0] / dt:.2f}x | {same} |")
            print(f"| {name}: overhead per sweep | - | {overhead * 1e3:.1f} ms | - | - |")
        finally:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()


if __name__ == "__main__":
    main()
