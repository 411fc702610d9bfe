"""The results page of `benchmarks.compare`: summary table, verdict rows, one plot per case.

Reads the run dict that `benchmarks.compare.run_all` produces (or its saved JSON) and writes
markdown and PNGs; it runs no sampler.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import methods

BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
COLORS = {"mdhmc": "#d62728", "mdhmc-thread": "#e377c2", "mdhmc-diffusion": "#17becf", "mdhmc-ladder": "#9467bd",
          "mdhmc-moves": "#bcbd22",
           "hmc": "#ff7f0e", "metropolis": "#8c564b", "emcee": "#2ca02c", "nuts": "#1f77b4"}
# the metrics shown per case kind: (main, second); the main one also goes against evaluations
PLOT_METRICS = {"mixture": ("w1", "mass_err"), "funnel": ("ks_v", "ks_x"), "wells": ("z_max", "log_sd_max")}
METRIC_LABELS = {"w1": "sliced W1 to exact", "mass_err": "max |mass fraction error|", "ks_v": "KS statistic of v",
                 "ks_x": "max KS statistic of x_i", "z_max": "max |mean error| / sd", "log_sd_max": "max |log sd ratio|"}


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
