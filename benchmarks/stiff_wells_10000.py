"""Stiff wells in 10,000 dimensions, headless: all marginals within 0.1 sd? (issue 11; on demand)

    python -m benchmarks.stiff_wells_10000                 # mdhmc, then BlackJAX NUTS in its own process
    python -m benchmarks.stiff_wells_10000 --method mdhmc --walkers 2000 --sweeps 2
    python -m benchmarks.stiff_wells_10000 --dim 1000      # the same at 1,000-D (minutes)
    python -m benchmarks.stiff_wells_10000 --method mdhmc-pipeline --walkers 4000 --gradient exact --budget-s 180

mdhmc runs its diffusion stage headless through the Python API (``Sampler(stage="diffusion")``,
what ``mdhmc run --stage diffusion`` runs) from dispersed starts, default settings except the
ensemble size and the number of sweeps: the search (a diagonal Newton step and a Laplace draw
for every walker far below the ensemble) brings the walkers into the wells and the trajectories
move them there. Its estimate is the final ensemble (one draw per walker). NUTS is the benchmark's
adapter (`benchmarks.methods`, 4 chains, 1,000 warm-up steps) with a wall-time budget; its
estimate is every draw after warm-up (at most 4,000, thinned evenly).

Criterion, as in `benchmarks.accuracy` (stiff wells): largest |mean error| / sd and largest
|log sd ratio| over the 10,000 coordinates both < 0.1. The line "exact draws reach" is the same
metrics for as many *exact* draws as the estimate has: the Monte Carlo floor (with n independent
draws the largest of 10,000 |z| is about 4 / sqrt(n), so n must be above ~1,600 for 0.1).

``--method mdhmc-pipeline`` runs the default pipeline instead (`run_pipeline`): its estimate is
every recorded cold sweep, as in `benchmarks.compare`; with ``--gradient exact`` the search costs
O(dim) per walker (`sampler.preconditioning._newton_walkers_probed`).

Each method runs in a fresh process, so its peak resident memory (``ru_maxrss``) is its own;
``tracemalloc`` adds the peak of Python and numpy allocations (numba's are not traced). Writes
``benchmarks/stiff_wells_<dim>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _metrics(X: np.ndarray, dim: int) -> dict:
    from mdhmc.targets.builtin import wells

    mu, sd = wells(dim)
    z = np.abs(X.mean(axis=0) - mu) / sd
    lsd = np.abs(np.log(X.std(axis=0) / sd))
    return {"n": int(X.shape[0]), "z_max": float(z.max()), "z_median": float(np.median(z)),
            "log_sd_max": float(lsd.max()), "ok": bool(z.max() < 0.1 and lsd.max() < 0.1)}


def _floor(n: int, dim: int, reps: int = 3) -> dict:
    from mdhmc import targets

    t = targets.get("stiff-wells", dim)
    rows = [_metrics(t.sample_exact(n, np.random.default_rng(1000 + r)), dim) for r in range(reps)]
    return {k: float(np.median([r[k] for r in rows])) for k in ("z_max", "log_sd_max")}


def _memory(peak_traced: int) -> dict:
    return {"tracemalloc_peak_mb": round(peak_traced / 2**20, 1),
            "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_mdhmc(dim: int, walkers: int, sweeps: int, seed: int, gradient: str = "spsa") -> dict:
    from mdhmc import targets
    from mdhmc.sampler import Sampler, Settings

    target = targets.get("stiff-wells", dim)
    settings = Settings(walkers=walkers, diffusion_sweeps=sweeps, seed=seed, gradient=gradient)
    t0 = time.perf_counter()
    warm = Sampler(targets.get("stiff-wells", 4), Settings(walkers=8, diffusion_sweeps=1, steps=2), stage="diffusion")
    warm.run()  # compile (or load the numba cache) outside the clock
    compile_s = time.perf_counter() - t0
    tracemalloc.start()
    s = Sampler(target, settings, stage="diffusion", keep_sweeps=1)
    t0 = time.perf_counter()
    per_sweep = []
    for _ in range(sweeps):
        rec = s.sweep()
        per_sweep.append({"wall_s": round(rec["wall_s"], 2), "searching": int(rec.get("searching", 0)),
                          "lp_evals": int(rec.get("lp_evals", 0)), "grad_evals": int(rec.get("grad_evals", 0)),
                          **_metrics(s.state.positions, dim)})
        print(json.dumps({"sweep": len(per_sweep), **per_sweep[-1]}), flush=True)
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"method": "mdhmc", "dim": dim, "stage": "diffusion", "walkers": walkers, "diffusion_sweeps": sweeps,
            "seed": seed, "gradient": gradient, "wall_s": round(wall, 1),
            "settings": "defaults except walkers and diffusion_sweeps" + ("" if gradient == "spsa" else " and gradient"),
            "compile_or_cache_s": round(compile_s, 1), "lp_evals": int(s.totals["lp_evals"]),
            "grad_evals": int(s.totals.get("grad_evals", 0)),
            "searching": int(s.totals.get("searching", 0)), "per_sweep": per_sweep,
            **_metrics(s.state.positions, dim), "exact_floor": _floor(walkers, dim), **_memory(peak)}


def _adapter_run(method: str, dim: int, budget_s: float, seed: int, **kw):
    """``methods.run`` on the ``dim``-D wells under tracemalloc: (result, checkpoints as dicts, traced peak)."""
    from . import methods
    from .accuracy import case

    tracemalloc.start()
    r = methods.run(method, case(f"stiff-wells:{dim}"), seed=seed, budget_s=budget_s,
                    evaluate=lambda X: _metrics(X, dim), warm=True, **kw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cps = [{"wall_s": round(cp.wall_s, 2), "phase": cp.phase, "lp_evals": int(cp.lp_evals),
            "grad_evals": int(cp.grad_evals), **cp.metrics} for cp in r.checkpoints]
    return r, cps, peak


def run_pipeline(dim: int, walkers: int, sweeps: int, seed: int, gradient: str, budget_s: float) -> dict:
    """mdhmc's default pipeline (diffusion -> trim -> ladder and ensemble moves) through the
    benchmark adapter (`benchmarks.methods`, estimate "all": every recorded cold sweep, thinned to
    4,000 points), with ``walkers``, ``diffusion_sweeps`` and ``gradient`` changed. Its checkpoints
    score the cold rung during warm-up, the recorded draws after."""
    from . import methods
    from .accuracy import case

    changes = {"walkers": walkers, "diffusion_sweeps": sweeps, "gradient": gradient}
    methods.MDHMC_CHANGES[case(f"stiff-wells:{dim}").key] = changes  # this process runs one case
    r, cps, peak = _adapter_run("mdhmc", dim, budget_s, seed, n_checkpoints=40)
    first_ok = next((cp["wall_s"] for cp in cps if cp.get("ok")), None)
    ok_from = None  # from when every later checkpoint held
    for cp in reversed(cps):
        if not cp.get("ok"):
            break
        ok_from = cp["wall_s"]
    info = {k: r.info[k] for k in ("walkers", "sweeps", "recorded_sweeps", "swap_acceptance", "temperatures",
                                   "pair_acceptance", "trim") if k in r.info}
    final = cps[-1] if cps else {}
    return {"method": "mdhmc-pipeline", "dim": dim, "seed": seed, "budget_s": budget_s,
            "settings_changed": changes, "compile_s": round(r.prepare_s, 1), "first_ok_s": first_ok,
            "ok_from_s": ok_from, "final": final, "checkpoints": cps, **info,
            "exact_floor": _floor(max(2, min(int(final.get("n", 2)), walkers // 2)), dim), **_memory(peak)}


def run_nuts(dim: int, budget_s: float, seed: int) -> dict:
    from . import checkpoints, methods
    from .accuracy import MAX_POOL

    # the default cap (20 M values) keeps ~1,000-2,000 draws at 10,000-D, whose floor is 0.11: room for
    # twice the 4,000 points an estimate pools, so the pool is not the cap's
    checkpoints.MAX_RECORDED_VALUES = max(checkpoints.MAX_RECORDED_VALUES, 2 * MAX_POOL * dim)
    r, cps, peak = _adapter_run("nuts", dim, budget_s, seed)
    first_ok = next((cp["wall_s"] for cp in cps if cp["phase"] == "sampling" and cp.get("ok")), None)
    final = cps[-1] if cps else {}
    return {"method": "nuts", "dim": dim, "chains": methods.NUTS_CHAINS, "warmup_steps": methods.NUTS_WARMUP,
            "seed": seed, "budget_s": budget_s, "max_recorded_values": checkpoints.MAX_RECORDED_VALUES,
            "compile_s": round(r.prepare_s, 1), "first_ok_s": first_ok, "final": final, "checkpoints": cps,
            "exact_floor": _floor(max(2, int(final.get("n", 2))), dim), **_memory(peak)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", choices=("mdhmc", "mdhmc-pipeline", "nuts", "both"), default="both")
    ap.add_argument("--dim", type=int, default=10_000)
    ap.add_argument("--walkers", type=int, default=2000)
    ap.add_argument("--sweeps", type=int, default=2, help="diffusion sweeps (the search needs two: see the docstring)")
    ap.add_argument("--gradient", choices=("spsa", "exact", "central"), default="spsa",
                    help="mdhmc's gradient setting (exact: the search takes gradient probes, O(dim) per walker)")
    ap.add_argument("--nuts-budget-s", type=float, default=300.0)
    ap.add_argument("--budget-s", type=float, default=180.0, help="mdhmc-pipeline's wall-time budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON (default benchmarks/stiff_wells_<dim>.json)")
    a = ap.parse_args(argv)
    out = Path(a.out or ROOT / "benchmarks" / f"stiff_wells_{a.dim}.json")
    if a.method == "both":
        res = {"load_at_start": "%.1f %.1f %.1f" % os.getloadavg(), "runs": []}
        for m in ("mdhmc", "nuts"):  # each in its own process: its own peak memory
            part = out.with_suffix(f".{m}.json")
            cmd = [sys.executable, "-m", "benchmarks.stiff_wells_10000", "--method", m, "--dim", str(a.dim),
                   "--walkers", str(a.walkers), "--sweeps", str(a.sweeps), "--gradient", a.gradient,
                   "--nuts-budget-s", str(a.nuts_budget_s),
                   "--seed", str(a.seed), "--out", str(part)]
            p = subprocess.run(cmd, cwd=ROOT)
            res["runs"].append(json.loads(part.read_text()) if p.returncode == 0 else
                               {"method": m, "failed": f"exit {p.returncode}"})
            part.unlink(missing_ok=True)
        res["load_at_end"] = "%.1f %.1f %.1f" % os.getloadavg()
    else:
        load = "%.1f %.1f %.1f" % os.getloadavg()
        if a.method == "mdhmc":
            res = run_mdhmc(a.dim, a.walkers, a.sweeps, a.seed, a.gradient)
        elif a.method == "mdhmc-pipeline":
            res = run_pipeline(a.dim, a.walkers, a.sweeps, a.seed, a.gradient, a.budget_s)
        else:
            res = run_nuts(a.dim, a.nuts_budget_s, a.seed)
        res["load_at_start"], res["load_at_end"] = load, "%.1f %.1f %.1f" % os.getloadavg()
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("per_sweep", "checkpoints")}), flush=True)


if __name__ == "__main__":
    main()
