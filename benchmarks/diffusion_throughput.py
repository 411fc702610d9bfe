"""Diffusion throughput on 2D scorpio: the thread's settings against the new defaults (issue 10).

    python benchmarks/diffusion_throughput.py [--reps 5]

Same workload for both (2,000 walkers, 500 steps, 4 diffusion sweeps, stage "diffusion"),
runs interleaved thread / default so the machine's load hits both alike; reports
integration steps per second of each and their ratio (median over repetitions). The new
defaults add per sweep: the preconditioner refresh during warm-up (ensemble MAD and a few
curvature probes), the step-size steer, the search test; per step: the scale metric's
multiply and divide in SPSA and the energy-change sum.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings

WORK = dict(walkers=2000, steps=500, diffusion_sweeps=4)


def steps_per_s(settings) -> float:
    s = Sampler(targets.get("scorpio"), settings, stage="diffusion")
    t0 = time.perf_counter()
    s.run()
    return s.totals["steps"] / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    cases = {"thread": Settings.thread(**WORK), "default": Settings(**WORK)}
    for st in cases.values():  # compile
        Sampler(targets.get("scorpio"), st.replace(walkers=10, steps=5, diffusion_sweeps=1), stage="diffusion").run()
    rates = {k: [] for k in cases}
    for _ in range(args.reps):
        for k, st in cases.items():
            rates[k].append(steps_per_s(st))
    ratios = np.array(rates["default"]) / np.array(rates["thread"])
    out = {k: float(np.median(v)) for k, v in rates.items()}
    out["ratio_default_over_thread"] = float(np.median(ratios))
    out["ratios"] = ratios.round(3).tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
