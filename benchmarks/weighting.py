"""Bias of each point-weight rule of the diffusion stage (issue 10; run on demand).

    python benchmarks/weighting.py           # the grid (~3-5 min on 2 busy cores)
    python benchmarks/weighting.py --quick   # a smaller grid
    python benchmarks/weighting.py --replicates 8   # seed-to-seed spread at the test's point

Diffusion alone on scorpio from dispersed starts, the thread's algorithm otherwise
(`Settings.thread`: no preconditioning, fixed step size, so only the rule changes), over a
grid of step_size x delta x steps. Per run: the pool of the last `POOL_SWEEPS` sweeps' ensembles
against 20,000 exact draws: sliced W1 (`sampler.diagnostics.sliced_w1`) and the mass per
component (body, claw L, claw R, stinger; truth 0.5 / 0.1 / 0.1 / 0.3); "stinger error" is
the stinger mass minus 0.3, the thread rule's signature (+lp counts density twice).

Writes benchmarks/weighting.json and assets/weighting.png; prints the Markdown table that
goes into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings
from mdhmc.sampler.diagnostics import mass_fractions, sliced_w1
from mdhmc.sampler.diffusion import WEIGHTINGS

ROOT = Path(__file__).resolve().parents[1]
WALKERS, SWEEPS, POOL_SWEEPS, SEED = 1000, 20, 10, 1
GRID = {"step_size": (0.02, 0.05, 0.1), "delta": (0.3, 1.0, 3.0), "steps": (50, 200)}
QUICK = {"step_size": (0.05,), "delta": (0.3, 1.0), "steps": (200,)}
#: the point tests/sampler/test_diffusion_scaling.py checks each rule at (the grid's best mixing)
TEST_POINT = {"step_size": 0.1, "delta": 1.0, "steps": 200}


def run_rule(target, weighting: str, step_size: float, delta: float, steps: int, seed: int = SEED,
             walkers: int = WALKERS, sweeps: int = SWEEPS, base=Settings.thread):
    """(pool of the last sweeps, lp evaluations, wall s) of one diffusion-only run."""
    s = Sampler(target, base(walkers=walkers, diffusion_sweeps=sweeps, seed=seed, weighting=weighting,
                             step_size=step_size, delta=delta, steps=steps), stage="diffusion")
    t0 = time.perf_counter()
    res = s.run()
    pool = res["draws"][-POOL_SWEEPS:].reshape(-1, target.dim)
    return pool, res["totals"]["lp_evals"], time.perf_counter() - t0


def bias(target, pool, exact) -> dict:
    mass = mass_fractions(target, pool)
    return {"w1": sliced_w1(pool, exact), "mass": mass.tolist(),
            "stinger_err": float(mass[3] - target.component_weights[3]),
            "max_mass_err": float(np.abs(mass - target.component_weights).max())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--replicates", type=int, default=0)
    args = ap.parse_args(argv)
    if args.replicates:
        return replicates(args.replicates)
    grid = QUICK if args.quick else GRID
    target = targets.get("scorpio")
    exact = target.sample_exact(20_000, np.random.default_rng(12345))
    floor = sliced_w1(exact[:POOL_SWEEPS * WALKERS], target.sample_exact(20_000, np.random.default_rng(7)))
    rows = []
    for (eps, delta, steps), rule in itertools.product(itertools.product(*grid.values()), WEIGHTINGS):
        pool, evals, wall = run_rule(target, rule, eps, delta, steps)
        rows.append({"weighting": rule, "step_size": eps, "delta": delta, "steps": steps, "lp_evals": evals,
                     "wall_s": wall, **bias(target, pool, exact)})
        r = rows[-1]
        print(f"{rule:12s} eps={eps:<5} delta={delta:<4} steps={steps:<4} W1={r['w1']:.3f} "
              f"mass={np.round(r['mass'], 3).tolist()} ({wall:.1f}s)", flush=True)
    out = {"walkers": WALKERS, "sweeps": SWEEPS, "pool_sweeps": POOL_SWEEPS, "seed": SEED,
           "w1_floor_exact_vs_exact": floor, "rows": rows}
    (ROOT / "benchmarks" / ("weighting-quick.json" if args.quick else "weighting.json")).write_text(
        json.dumps(out, indent=1))
    print(f"\nsliced W1 floor (exact {POOL_SWEEPS * WALKERS} vs exact 20,000): {floor:.3f}\n")
    print(table(rows))
    if not args.quick:
        plot(rows, ROOT / "assets" / "weighting.png")


def replicates(n: int):
    """Seeds 1..n at `TEST_POINT`: per rule, mean and sd over seeds of stinger mass and W1."""
    target = targets.get("scorpio")
    exact = target.sample_exact(20_000, np.random.default_rng(12345))
    out = {"point": TEST_POINT, "walkers": WALKERS, "sweeps": SWEEPS, "seeds": list(range(1, n + 1))}
    for rule in WEIGHTINGS:
        b = [bias(target, run_rule(target, rule, seed=seed, **TEST_POINT)[0], exact) for seed in out["seeds"]]
        st = np.array([r["stinger_err"] for r in b]) + target.component_weights[3]
        w1 = np.array([r["w1"] for r in b])
        out[rule] = {"stinger": st.tolist(), "stinger_mean": float(st.mean()), "stinger_sd": float(st.std(ddof=1)),
                     "w1": w1.tolist(), "w1_mean": float(w1.mean()), "w1_sd": float(w1.std(ddof=1))}
        print(rule, json.dumps({k: v for k, v in out[rule].items() if not isinstance(v, list)}), flush=True)
    (ROOT / "benchmarks" / "weighting-replicates.json").write_text(json.dumps(out, indent=1))


def table(rows) -> str:
    lines = ["| rule | step size | delta | steps | sliced W1 | body | claw L | claw R | stinger |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["mass"]
        lines.append(f"| {r['weighting']} | {r['step_size']} | {r['delta']} | {r['steps']} | {r['w1']:.3f} | "
                     f"{m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} |")
    lines.append("| truth | | | | | 0.500 | 0.100 | 0.100 | 0.300 |")
    return "\n".join(lines)


def plot(rows, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for rule, marker in zip(WEIGHTINGS, "osD"):
        rs = [r for r in rows if r["weighting"] == rule]
        labels = [f"{r['step_size']}/{r['delta']}/{r['steps']}" for r in rs]
        xs = np.arange(len(rs))
        axes[0].plot(xs, [r["w1"] for r in rs], marker=marker, ls="", label=rule)
        axes[1].plot(xs, [r["stinger_err"] for r in rs], marker=marker, ls="", label=rule)
    for ax, title in zip(axes, ("sliced W1 to exact draws", "stinger mass - 0.3")):
        ax.set_xticks(xs, labels, rotation=90, fontsize=6)
        ax.set_xlabel("step size / delta / steps")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[0].legend()
    fig.suptitle("Diffusion-only bias on scorpio by point-weight rule (1,000 walkers, 20 sweeps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
