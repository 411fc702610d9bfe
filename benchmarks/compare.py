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
from .report import BEGIN, END, markdown, plot_case, summarize, write_page  # noqa: F401 (BEGIN/END: re-exported)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



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
            ck = _cold_key(m, key, e["target"])
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
            ck = _cold_key(m, key, e["target"])
            best = dict(min(seen[ck], key=lambda r: r["import_s"] + r["jit_s"]))
            best["reps"] = [round(r["import_s"] + r["jit_s"], 2) for r in seen[ck]]
            if best["case"] != key:
                best["shared_with"] = best["case"]
            e["cold"][m] = best


def _cold_key(method: str, key: str, target: str) -> tuple:
    """What one cold measurement stands for: numba specialises on the target's functions, not
    on dim (one per target function), and the mdhmc ablation rows compile exactly the kernels
    "mdhmc" compiles (one for all of them); JAX compiles per shape (one per case)."""
    if method == "nuts":
        return method, key
    return ("mdhmc" if method.startswith("mdhmc") else method), target


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
            if m in methods._STAGE:
                entry["settings"][m] = {"stage": methods._STAGE[m],
                                        **(methods.MDHMC_CHANGES.get(c.key, {}) if m.startswith("mdhmc") else {})}
            # one fresh-process measurement per `_cold_key` (numba: per target function, shared by
            # the mdhmc rows; JAX compiles per shape: one per case)
            ck = _cold_key(m, c.key, c.target)
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
