"""The diffusion stage from dispersed starts on stiff wells, 100-D to 10,000-D (issue 10; on demand).

    python benchmarks/diffusion_scale.py                  # 100-D and 1,000-D (~10 min on 2 busy cores)
    python benchmarks/diffusion_scale.py --dims 10000     # 10,000-D headless, peak memory
    python benchmarks/diffusion_scale.py --spsa           # SPSA relative error, 1,000-D, before/after

Diffusion alone (stage "diffusion"), default settings except the ensemble size and run length
given below, dispersed starts (uniform on the target's box, +-16). After the sweeps, per
coordinate: |ensemble mean - mu| / sd and ensemble sd / sd. Pass: median of the first < 1 and
every one of the second within [0.3, 3]. Reports wall time, lp evaluations and peak memory
(tracemalloc: Python and numpy allocations; ru_maxrss: the process).

``--spsa``: at exact draws of the 1,000-D wells (the typical set), the SPSA estimate's relative
error ||S (g_hat - g)|| / ||S g|| in the preconditioned metric S = the wells' sds (the metric
the preconditioned sampler moves in), k = 1, one-sided, c = 0.01: plain SPSA (perturbation
c Delta) against SPSA in the metric (perturbation c S Delta). Predicted RMS from the noise
alone: plain ||S|| ||g|| / ||S g|| (the stiff coordinates' gradient leaks into every soft
one), metric sqrt(dim - 1) = 31.6 (the median is 0.674 x the RMS: |g.Delta| is half-normal).
Plain one-sided SPSA also carries the curvature term c/2 sum_j H_jj (c = 0.01 is the stiffest
sd), which the metric form shrinks to c/2 dim in scaled units.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings
from mdhmc.sampler.spsa import spsa_gradient_py
from mdhmc.targets.builtin import wells

ROOT = Path(__file__).resolve().parents[1]
#: dim -> (walkers, diffusion sweeps): fewer walkers in high dim to fit this machine's minutes
RUNS = {100: (1000, 20), 1000: (200, 20), 10000: (100, 12)}


def run(dim: int, seed: int = 0) -> dict:
    walkers, sweeps = RUNS[dim]
    target = targets.get("stiff-wells", dim)
    mu, sd = wells(dim)
    tracemalloc.start()
    s = Sampler(target, Settings(walkers=walkers, diffusion_sweeps=sweeps, seed=seed), stage="diffusion",
                max_recorded_values=walkers * dim)
    t0 = time.perf_counter()
    s.run()
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    X = s.state.positions
    z = np.abs(X.mean(axis=0) - mu) / sd
    ratio = X.std(axis=0) / sd
    out = {"dim": dim, "walkers": walkers, "diffusion_sweeps": sweeps, "seed": seed,
           "median_z": float(np.median(z)), "max_z": float(z.max()),
           "sd_ratio_min": float(ratio.min()), "sd_ratio_max": float(ratio.max()),
           "pass": bool(np.median(z) < 1 and ratio.min() >= 0.3 and ratio.max() <= 3),
           "wall_s": wall, "lp_evals": int(s.totals["lp_evals"]), "searching": int(s.totals.get("searching", 0)),
           "step_size": s.history[-1].get("diffusion_step_size"),
           "tracemalloc_peak_mb": peak / 2**20,
           "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(out), flush=True)
    return out


def spsa_error(dim: int = 1000, n: int = 200, seed: int = 3) -> dict:
    target = targets.get("stiff-wells", dim)
    mu, sd = wells(dim)
    X = target.sample_exact(n, np.random.default_rng(seed))
    from mdhmc.sampler.rng import seed_streams

    streams = seed_streams(seed, 1)
    err = {"plain": [], "metric": []}
    for x in X:
        g = np.asarray(target.grad_log_density(x))
        for name, scale in (("plain", None), ("metric", sd)):
            gh = spsa_gradient_py(target.log_density, x, c=0.01, rng_state=streams, scale=scale)
            err[name].append(np.linalg.norm(sd * (gh - g)) / np.linalg.norm(sd * g))
    g = np.asarray(target.grad_log_density(X[0]))
    rms = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in err.items()}
    out = {"dim": dim, "points": n, "plain_rel_error_rms": rms["plain"], "metric_rel_error_rms": rms["metric"],
           "plain_rel_error_median": float(np.median(err["plain"])),
           "metric_rel_error_median": float(np.median(err["metric"])),
           "plain_predicted": float(np.linalg.norm(sd) * np.linalg.norm(g) / np.linalg.norm(sd * g)),
           "metric_predicted": float(np.sqrt(dim - 1))}
    print(json.dumps(out), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--spsa", action="store_true")
    args = ap.parse_args(argv)
    if args.spsa:
        res = [spsa_error()]
        name = "diffusion_scale_spsa.json"
    else:
        res = [run(d) for d in args.dims]
        name = "diffusion_scale_" + "_".join(map(str, args.dims)) + ".json"
    (ROOT / "benchmarks" / name).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
