"""Side-by-side: mdhmc pipeline vs exact HMC vs random-walk Metropolis vs emcee vs NUTS.

One command (on demand, ~35 minutes on 2 busy cores; needs the ``bench`` extra)::

    python -m benchmarks.compare --seeds 3 --out benchmarks/RESULTS.md

and a tiny version (seconds; what the test suite runs)::

    python -m benchmarks.compare --smoke --out /tmp/bench.md --assets /tmp

For every case (target x dim) and seed, every method runs *warm* (compiled outside the
clock) for the case's wall-time budget, methods interleaved (the order rotates with the
seed, so a load spike on a shared machine does not always hit the same method); accuracy
is measured at checkpoints on a geometric time grid (`benchmarks.methods`,
`benchmarks.accuracy`). The *cold* cost is each method's import and first-call compile
time, measured once per case in a fresh process with an empty ``NUMBA_CACHE_DIR`` (and
JAX's in-memory caches empty); cold time-to-accuracy = that compile time + the warm time.

Outputs: the generated section of ``--out`` (between ``<!-- BEGIN GENERATED -->`` and
``<!-- END GENERATED -->``; hand-written text around it is kept), one PNG per case
``<assets>/bench_<case>.png`` (matplotlib, Agg) and every checkpoint as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import accuracy, methods
from .accuracy import CASES, SMOKE_BUDGETS, case as get_case

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
COLORS = {"mdhmc": "#d62728", "hmc": "#ff7f0e", "metropolis": "#8c564b", "emcee": "#2ca02c", "nuts": "#1f77b4"}
# the metrics shown per case kind: (main, second); the main one also goes against evaluations
PLOT_METRICS = {"mixture": ("w1", "mass_err"), "funnel": ("ks_v", "ks_x"), "wells": ("z_max", "log_sd_max")}
METRIC_LABELS = {"w1": "sliced W1 to exact", "mass_err": "max |mass fraction error|", "ks_v": "KS statistic of v",
                 "ks_x": "max KS statistic of x_i", "z_max": "max |mean error| / sd", "log_sd_max": "max |log sd ratio|"}


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------
def cold_jit(method: str, key: str, smoke: bool = False, timeout: float = 900, fresh_cache: bool = True) -> dict:
    """Import + first-call JIT time of ``method`` on case ``key`` in a fresh process with an
    empty numba cache (JAX keeps no cache across processes unless told to).

    ``fresh_cache=False`` keeps this process's numba cache (the smoke test: plumbing only).
    """
    with tempfile.TemporaryDirectory(prefix="mdhmc-cold-numba-") as cache:
        env = dict(os.environ)
        if fresh_cache:
            env["NUMBA_CACHE_DIR"] = cache
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "benchmarks.methods", "--jit", method, key] + (["--smoke"] if smoke else [])
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"cold JIT run of {method} on {key} failed:\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def recold(res: dict, method_names, reps: int = 1, log=print):
    """Measure every case's cold times again (e.g. on a quieter machine), in place.

    With ``reps`` > 1 every measurement is repeated (round-robin over methods, so a load
    spike does not hit one method's repetitions only) and the fastest is kept: on a shared
    machine the minimum is the best estimate of the intrinsic cost.
    """
    seen: dict = {}
    res["machine"]["cold_measured"] = datetime.datetime.now().isoformat(timespec="seconds")
    res["machine"]["load_at_cold"] = _load()
    jobs = []
    for key, e in res["cases"].items():
        for m in method_names:
            ck = (m, key) if m == "nuts" else (m, e["target"])
            if ck not in seen:
                seen[ck] = []
                jobs.append((ck, m, key))
    for rep in range(reps):
        for ck, m, key in jobs:
            r = cold_jit(m, key, res.get("smoke", False))
            seen[ck].append(r)
            log(f"[{key}] cold {m:10s} #{rep + 1} import {r['import_s']:.1f} s, JIT {r['jit_s']:.1f} s (load {_load()})")
    for key, e in res["cases"].items():
        for m in method_names:
            ck = (m, key) if m == "nuts" else (m, e["target"])
            best = dict(min(seen[ck], key=lambda r: r["import_s"] + r["jit_s"]))
            best["reps"] = [round(r["import_s"] + r["jit_s"], 2) for r in seen[ck]]
            if best["case"] != key:
                best["shared_with"] = best["case"]
            e["cold"][m] = best


def time_to_accuracy(run: dict) -> tuple[float, float]:
    """(first time the criterion held, time from which it held at every later checkpoint);
    inf when never. Only checkpoints after warm-up count."""
    cps = [c for c in run["checkpoints"] if c["phase"] == "sampling"]
    first = next((c["wall_s"] for c in cps if c["metrics"].get("ok")), math.inf)
    stayed = math.inf
    for c in reversed(cps):
        if not c["metrics"].get("ok"):
            break
        stayed = c["wall_s"]
    return first, stayed


def machine_info() -> dict:
    import numba

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "numba": numba.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        info["cpu"] = platform.processor() or "?"
    for mod in ("emcee", "jax", "blackjax", "scipy", "matplotlib"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            info[mod] = "not installed"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sampler", "targets"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        info["git"] = rev + (" (sampler/targets with uncommitted changes)" if dirty else "")
    except OSError:
        info["git"] = "?"
    return info


def _load() -> str:
    try:
        return "%.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return "?"


def run_all(case_keys, method_names, seeds, budget_s=None, smoke=False, cold="jit", log=print) -> dict:
    """Every (case, seed, method) run plus cold compile times; a JSON-friendly dict."""
    out = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(),
           "smoke": smoke, "seeds": list(seeds), "methods": list(method_names), "cases": {}}
    out["machine"]["load_at_start"] = _load()
    cold_seen: dict = {}
    for key in case_keys:
        c = get_case(key)
        budget = budget_s if budget_s is not None else (SMOKE_BUDGETS.get(c.key, 1.5) if smoke else c.budget_s)
        ref = accuracy.reference(c.key)
        entry = {"target": c.target, "dim": c.dim, "kind": c.kind, "budget_s": budget, "criterion": c.criterion,
                 "thresholds": c.thresholds, "floor": ref.floor(), "settings": {}, "cold": {}, "prepare_s": {},
                 "runs": []}
        out["cases"][c.key] = entry
        log(f"[{c.key}] budget {budget:g} s per run; criterion: {c.criterion}; load {_load()}")
        for m in method_names:
            if m in ("mdhmc", "hmc", "metropolis"):
                entry["settings"][m] = {"stage": methods._STAGE[m],
                                        **(methods.MDHMC_CHANGES.get(c.key, {}) if m == "mdhmc" else {})}
            # numba specialises on the target's functions, not on dim: one fresh-process
            # measurement per target function; JAX compiles per shape: one per case.
            ck = (m, c.key) if m == "nuts" else (m, c.target)
            if ck in cold_seen:
                entry["cold"][m] = dict(cold_seen[ck], shared_with=cold_seen[ck]["case"])
            elif cold == "jit" or (cold == "emcee-only" and m == "emcee" and not cold_seen):
                entry["cold"][m] = cold_seen[ck] = cold_jit(m, c.key, smoke, fresh_cache=(cold == "jit"))
                log(f"  cold {m:10s} import {entry['cold'][m]['import_s']:.1f} s, JIT {entry['cold'][m]['jit_s']:.1f} s")
            entry["prepare_s"][m] = methods.prepare(m, c, smoke)
        for seed in seeds:
            k = seed % len(method_names)
            for m in list(method_names[k:]) + list(method_names[:k]):
                r = methods.run(m, c, seed, budget, evaluate=ref.metrics, warm=True, smoke=smoke)
                d = r.to_dict()
                d["tta_first"], d["tta_stayed"] = time_to_accuracy(d)
                entry["runs"].append(d)
                f = r.final
                log(f"  seed {seed} {m:10s} {f.wall_s:5.1f} s  ok={f.metrics.get('ok')}  tta={d['tta_stayed']:.2f}  "
                    + "  ".join(f"{k}={v:.3g}" for k, v in f.metrics.items() if isinstance(v, float)))
    out["machine"]["load_at_end"] = _load()
    out["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    return out


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------
def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "never"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and abs(v) >= 1000):
        return _si(v)
    return f"{v:.{digits}g}"


def _si(v) -> str:
    v = float(v)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.0f}"


def _med_range(vals, digits=3) -> str:
    vals = [float(v) for v in vals]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return _fmt(vals[0], digits)
    med = float(np.median(vals))  # inf-aware: more than half never -> never
    lo, hi = min(vals), max(vals)
    return f"{_fmt(med, digits)} [{_fmt(lo, digits)}–{_fmt(hi, digits)}]"


def summarize(res: dict) -> dict:
    """Per case and method: TTA (warm / cold), final metrics, evaluations, divergences."""
    summ = {}
    for key, e in res["cases"].items():
        rows = {}
        for m in res["methods"]:
            runs = [r for r in e["runs"] if r["method"] == m]
            if not runs:
                continue
            cold = e["cold"].get(m, {})
            # where compilation happens (at import or at first call) is the libraries' business:
            # the cold overhead is everything a fresh process spends before sampling starts
            jit = cold["import_s"] + cold["jit_s"] if cold else None
            stayed = [r["tta_stayed"] for r in runs]
            rows[m] = {
                "runs": len(runs),
                "reached": sum(np.isfinite(stayed)),
                "tta_stayed": stayed,
                "tta_first": [r["tta_first"] for r in runs],
                "tta_cold": [t + jit for t in stayed] if jit is not None else None,
                "jit_s": jit,
                "import_s": cold.get("import_s"),
                "final": {k: [r["checkpoints"][-1]["metrics"].get(k, float("nan")) for r in runs]
                          for k in runs[0]["checkpoints"][-1]["metrics"] if k not in ("n", "ok", "mass")},
                "ok_final": [bool(r["checkpoints"][-1]["metrics"].get("ok")) for r in runs],
                "lp_evals": [r["checkpoints"][-1]["lp_evals"] for r in runs],
                "grad_evals": [r["checkpoints"][-1]["grad_evals"] for r in runs],
                "divergences": [r["checkpoints"][-1]["divergences"] for r in runs],
                "divergences_warmup": [r["info"].get("divergences_warmup", 0) for r in runs],
                "info": runs[0]["info"],
            }
        summ[key] = rows
    return summ


def _curve(run: dict, metric: str, grid: np.ndarray, x: str = "wall_s") -> np.ndarray:
    """Step-interpolated metric of one run on ``grid`` (NaN before its first checkpoint)."""
    xs = np.array([c[x] for c in run["checkpoints"]], dtype=float)
    ys = np.array([c["metrics"].get(metric, np.nan) for c in run["checkpoints"]], dtype=float)
    idx = np.searchsorted(xs, grid, side="right") - 1
    out = np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan)
    return out


def plot_case(key: str, e: dict, method_names, path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main, second = PLOT_METRICS[e["kind"]]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    budget = e["budget_s"]
    grid = np.geomspace(budget / 200, budget, 300)
    for m in method_names:
        runs = [r for r in e["runs"] if r["method"] == m]
        if not runs:
            continue
        col = COLORS.get(m, None)
        for ax, metric in ((axes[0], main), (axes[1], second)):
            ys = np.array([_curve(r, metric, grid) for r in runs])
            with np.errstate(all="ignore"):
                ok = np.any(np.isfinite(ys), axis=0)
                med = np.full(grid.size, np.nan)
                lo = np.full(grid.size, np.nan)
                hi = np.full(grid.size, np.nan)
                med[ok] = np.nanmedian(ys[:, ok], axis=0)
                lo[ok] = np.nanmin(ys[:, ok], axis=0)
                hi[ok] = np.nanmax(ys[:, ok], axis=0)
            ax.plot(grid, med, color=col, lw=2, label=methods.LABELS[m])
            ax.fill_between(grid, lo, hi, color=col, alpha=0.15, lw=0)
            for r in runs:  # warm-up checkpoints hollow, sampling ones filled
                cps = r["checkpoints"]
                xs = [c["wall_s"] for c in cps]
                vs = [c["metrics"].get(metric, np.nan) for c in cps]
                filled = [c["phase"] == "sampling" for c in cps]
                ax.scatter([x for x, f in zip(xs, filled) if f], [v for v, f in zip(vs, filled) if f], s=8,
                           color=col, alpha=0.5)
                ax.scatter([x for x, f in zip(xs, filled) if not f], [v for v, f in zip(vs, filled) if not f], s=10,
                           facecolors="none", edgecolors=col, alpha=0.5)
        # accuracy vs evaluations (lp + gradient), each run's checkpoints
        for r in runs:
            cps = [c for c in r["checkpoints"] if c["phase"] == "sampling"]
            xs = [max(1, c["lp_evals"] + c["grad_evals"]) for c in cps]
            axes[2].plot(xs, [c["metrics"].get(main, np.nan) for c in cps], color=col, alpha=0.6, lw=1, marker=".",
                         label=methods.LABELS[m] if r is runs[0] else None)
    for ax, metric in ((axes[0], main), (axes[1], second), (axes[2], main)):
        thr = e["thresholds"].get(metric)
        if thr is not None:
            ax.axhline(thr, color="k", ls="--", lw=1, label="stated accuracy")
        fl = e["floor"].get(metric)
        if fl is not None:
            ax.axhline(fl, color="grey", ls=":", lw=1, label="4,000 exact draws")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.grid(True, which="both", alpha=0.25)
    axes[0].set_xlabel("wall time, s (warm)")
    axes[1].set_xlabel("wall time, s (warm)")
    axes[2].set_xlabel("lp + gradient evaluations so far (after warm-up)")
    axes[0].legend(fontsize=8, loc="best")
    axes[2].legend(fontsize=7, loc="best")
    dim = f", dim {e['dim']}" if e["kind"] != "mixture" else ""
    fig.suptitle(f"{e['target']}{dim}: median over seeds (line), min–max (band), checkpoints (dots; hollow = warm-up)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(res: dict, summ: dict, asset_rel: dict) -> str:
    """The generated section: setup, per-case tables and plots."""
    mi = res["machine"]
    L = []
    L.append(f"Generated by `python -m benchmarks.compare` on {res['started']} ({'SMOKE, tiny sizes' if res['smoke'] else 'full run'}); "
             f"seeds {', '.join(map(str, res['seeds']))}.")
    L.append("")
    L.append(f"Machine: {mi.get('cpu')}, {mi.get('cpus')} cores (shared with other work: load average "
             f"{mi.get('load_at_start')} at start, {mi.get('load_at_end')} at end). Python {mi.get('python')}, numpy "
             f"{mi.get('numpy')}, numba {mi.get('numba')}, emcee {mi.get('emcee')}, jax {mi.get('jax')} (CPU), blackjax "
             f"{mi.get('blackjax')}; mdhmc at git {mi.get('git')}.")
    if mi.get("cold_measured"):
        L.append("")
        L.append(f"Cold starts (import + JIT in fresh processes) re-measured on {mi['cold_measured']} "
                 f"(`--recold`; load average {mi.get('load_at_cold')} then, fastest of the repetitions kept; "
                 "single measurements under load spikes vary 2-4x).")
    L.append("")
    L.append("Cells are median [min–max] over seeds. *TTA* = time to the stated accuracy, counted from the start of the "
             "run until the first checkpoint after warm-up from which the criterion held at every later checkpoint "
             "(\"never\" = not held at the end of the budget; the median is \"never\" when most seeds never got there); "
             "*first hit* = the first checkpoint at which it held at all (the pool of 4,000 thinned draws is noisy, "
             "so a method can hit and then lose the criterion). "
             "*Warm* excludes compilation; *cold* adds the import + first-call JIT time of a fresh process with "
             "empty caches (measured once per case, or per target function for numba, whose kernels do not "
             "depend on dim). "
             "Evaluations and divergences are totals at the end of the budget; divergences count only after warm-up "
             "(warm-up ones in brackets).")
    L.append("")
    for key, e in res["cases"].items():
        rows = summ[key]
        main, second = PLOT_METRICS[e["kind"]]
        title = f"{e['target']}" + (f", dim {e['dim']}" if e["kind"] != "mixture" else " (2D)")
        L.append(f"### {title}")
        L.append("")
        fl = ", ".join(f"{k} {v:.3g}" for k, v in e["floor"].items() if k in (main, second) or k in e["thresholds"])
        L.append(f"Budget {e['budget_s']:g} s per run. Stated accuracy: **{e['criterion']}** (4,000 exact draws reach: {fl}).")
        L.append("")
        extra = {"mixture": [], "funnel": ["v_mean", "v_sd"], "wells": []}[e["kind"]]
        metric_cols = list(dict.fromkeys([main, second] + list(e["thresholds"]) + extra))
        head = (["method", "reached", "TTA warm, s", "first hit, s", "import + JIT (fresh process), s", "TTA cold, s"]
                + metric_cols
                + ["lp evals", "grad evals", "divergences"])
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "---|" * len(head))
        for m, r in rows.items():
            cells = [methods.LABELS[m], f"{r['reached']}/{r['runs']}", _med_range(r["tta_stayed"], 2),
                     _med_range(r["tta_first"], 2),
                     _fmt(r["jit_s"], 2) if r["jit_s"] is not None else "n/a",
                     _med_range(r["tta_cold"], 2) if r["tta_cold"] is not None else "n/a"]
            cells += [_med_range(r["final"].get(k, []), 2) for k in metric_cols]
            dv = "—" if m not in ("hmc", "nuts") else (_med_range(r["divergences"], 3)
                                                      + f" ({_med_range(r['divergences_warmup'], 3)})")
            cells += [_si(np.median(r["lp_evals"])), _si(np.median(r["grad_evals"])), dv]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
        if key in asset_rel:
            L.append(f"![{title}]({asset_rel[key]})")
            L.append("")
    return "\n".join(L)


def write_page(path: str, generated: str):
    """Replace the generated section of ``path`` (or create the page around it)."""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        if BEGIN in text and END in text:
            pre, rest = text.split(BEGIN, 1)
            _, post = rest.split(END, 1)
            text = pre + BEGIN + "\n" + generated + "\n" + END + post
        else:
            text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + generated + "\n" + END + "\n"
    else:
        text = "# Benchmarks: mdhmc vs exact HMC, Metropolis, emcee and NUTS\n\n" + BEGIN + "\n" + generated + "\n" + END + "\n"
    with open(path, "w") as f:
        f.write(text)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", nargs="+", default=None, metavar="CASE",
                    help=f"cases: {', '.join(CASES)} (or name:dim); default all (smoke: scorpio funnel-2)")
    ap.add_argument("--methods", nargs="+", default=list(methods.METHODS), choices=methods.METHODS)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3; smoke 1)")
    ap.add_argument("--budget-s", type=float, default=None, help="wall-time budget per run (default: per case)")
    ap.add_argument("--cold", choices=("jit", "emcee-only", "none"), default=None,
                    help="import + first-call JIT in fresh processes with an empty numba cache: every method "
                         "(default); emcee-only: one fresh process, numba cache kept (smoke default); none")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a few seconds per case")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "RESULTS.md"), help="results page (markdown)")
    ap.add_argument("--assets", default=os.path.join(REPO, "assets"), help="folder for bench_<case>.png")
    ap.add_argument("--json", default=None, help="all checkpoints as JSON (default: next to --out, .json)")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--from-json", default=None, metavar="PATH",
                    help="re-render the page and plots from a previous run's JSON (no sampling)")
    ap.add_argument("--recold", action="store_true",
                    help="with --from-json: measure the cold (import + JIT) times again and save them in the JSON")
    ap.add_argument("--cold-reps", type=int, default=1, help="with --recold: repetitions (the fastest is kept)")
    a = ap.parse_args(argv)
    if a.from_json:
        with open(a.from_json) as f:
            res = json.load(f)
        a.methods = [m for m in res["methods"] if m in a.methods]
        if a.recold:
            recold(res, a.methods, a.cold_reps, log=lambda s: print(s, flush=True))
            with open(a.from_json, "w") as f:
                json.dump(_compact(json.loads(json.dumps(res, default=_json_default))), f)
    else:
        keys = a.targets or (["scorpio", "funnel-2"] if a.smoke else list(CASES))
        keys = [get_case(k).key for k in keys]
        seeds = range(1 if a.smoke and a.seeds == 3 else a.seeds)
        cold = a.cold or ("emcee-only" if a.smoke else "jit")
        t0 = time.perf_counter()
        res = run_all(keys, a.methods, seeds, a.budget_s, a.smoke, cold,
                      log=lambda s: print(s, flush=True))
        res["total_s"] = time.perf_counter() - t0
    summ = summarize(res)
    asset_rel = {}
    if not a.no_plots:
        os.makedirs(a.assets, exist_ok=True)
        for key, e in res["cases"].items():
            png = os.path.join(a.assets, f"bench_{key}.png")
            plot_case(key, e, a.methods, png)
            asset_rel[key] = os.path.relpath(png, os.path.dirname(os.path.abspath(a.out)))
    write_page(a.out, markdown(res, summ, asset_rel))
    jpath = a.json or os.path.splitext(a.out)[0] + ".json"
    if not a.from_json or os.path.abspath(jpath) != os.path.abspath(a.from_json):
        with open(jpath, "w") as f:
            json.dump(_compact(json.loads(json.dumps(res, default=_json_default))), f)
    print(f"wrote {a.out}, {jpath}" + (f", {len(asset_rel)} PNGs in {a.assets}" if asset_rel else "")
          + f" (run took {res.get('total_s', 0):.0f} s)", flush=True)
    return res


def _compact(o, digits: int = 5):
    """Floats rounded to ``digits`` significant digits (the JSON is a record, not a checkpoint)."""
    if isinstance(o, float):
        return float(f"{o:.{digits}g}") if math.isfinite(o) else o
    if isinstance(o, dict):
        return {k: _compact(v, digits) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_compact(v, digits) for v in o]
    return o


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    raise TypeError(type(o).__name__)


if __name__ == "__main__":
    main()
