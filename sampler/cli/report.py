"""The report of ``mdhmc run``: a dict of accuracy and cost, printed as a table or one JSON line."""

from __future__ import annotations

import json
import math

import numpy as np

from ..io import json_dumps

#: dims whose ESS and R-hat the report computes
ESS_DIMS = 100

__all__ = ["build_report", "format_report", "settings_dict", "json_dumps", "yes"]


def yes(b) -> str:
    return "yes" if b else "no"


def settings_dict(settings) -> dict:
    """The settings as a preset writes them (JSON-ready: infinity as a huge number)."""
    from ..presets import dumps

    return json.loads(dumps(settings))["settings"]


def build_report(t, sampler, stage, settings, result, threads, out_path, exact_n=20_000) -> dict:
    """Accuracy and cost of a finished run (JSON-ready after `json_dumps`)."""
    from .. import diagnostics

    draws, final = result["draws"], result["final"]
    tot = result["totals"]
    rep = {
        "target": t.name,
        "target_source": t.source,
        "dim": t.dim,
        "stage": stage,
        "walkers": settings.walkers,
        "cold_walkers": int(final.shape[0]),
        "draws": int(draws.shape[0]),
        "sweeps": int(sampler.sweep_count),
        "lp_evals": int(tot.get("lp_evals", 0)),
        "grad_evals": int(tot.get("grad_evals", 0)),
        "steps": int(tot.get("steps", 0)),
        "wall_s": float(result["wall_s"]),
        "threads": threads,
        "seed": settings.seed,
    }
    summ = diagnostics.summary(t, draws, final, exact_n=exact_n)
    rep["mean"] = summ["mean"]
    rep["sd"] = summ["sd"]
    rep.update({
        "acceptance": result["acceptance"],
        "swap_acceptance": result["swap_acceptance"],
        "triggers": int(tot.get("triggers", 0)),
        "divergences": int(tot.get("divergences", 0)),
        "abandoned": int(tot.get("abandoned", 0)),
        "nonfinite": int(tot.get("nonfinite", 0)),
        "trimmed": int(tot.get("trimmed", 0)),
        "temperatures": result["temperatures"],
        "pair_acceptance": [None if not math.isfinite(a) else float(a) for a in result.get("pair_acceptance", [])],
    })
    if len(draws) >= 4:
        # a capped number of dims: ArviZ takes ~5 ms a dimension
        ess, rhat = diagnostics.ess_rhat(draws[:, :, :ESS_DIMS])
        rep.update(ess_min=float(np.nanmin(ess)) if np.isfinite(ess).any() else None,
                   rhat_max=float(np.nanmax(rhat)) if np.isfinite(rhat).any() else None,
                   ess_method=diagnostics.ESS_METHOD + (f" (first {ESS_DIMS} dims)" if t.dim > ESS_DIMS else ""))
    for key in ("ks_p", "sliced_w1", "mass_fractions", "exact_mass_fractions"):
        if key in summ:
            rep[key] = summ[key]
    if t.is_mixture:
        names = t.component_names or tuple(str(i) for i in range(len(t.component_weights)))
        rep["components"] = list(names)
    rep["settings"] = settings_dict(settings)
    rep["out"] = out_path
    return rep


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return yes(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}"
    return str(v)


def _fmt_vec(vals, labels=None, max_dims=10) -> str:
    vals = [None if (isinstance(v, float) and not math.isfinite(v)) else v for v in vals]
    if len(vals) <= max_dims:
        if labels:
            return "  ".join(f"{lab} {_fmt(v)}" for lab, v in zip(labels, vals))
        return "  ".join(_fmt(v) for v in vals)
    finite = [v for v in vals if v is not None]
    if not finite:
        return f"- ({len(vals)} dims)"
    return f"min {_fmt(min(finite))}  max {_fmt(max(finite))}  ({len(vals)} dims)"


def _nonfinite(rep: dict) -> str:
    """Float faults (NaN, +inf) of the log density or its gradient, which the kernels turn into
    rejected Metropolis proposals and abandoned diffusion trajectories (HMC: `divergences`)."""
    parts = [(rep.get("nonfinite", 0), "rejected proposal", "rejected proposals"),
             (rep.get("abandoned", 0), "abandoned trajectory", "abandoned trajectories")]
    shown = [f"{n:,} {one if n == 1 else many}" for n, one, many in parts if n]
    return ", ".join(shown) if shown else "none"


def _specialised(status) -> str:
    if status is None:
        return "general (--specialise: not started)"
    if status["sweeps"]:
        return f"target inlined in {status['sweeps']:,} diffusion sweeps (compiled in {status['seconds']:.1f} s)"
    if status["state"].startswith("not used"):
        return f"general (target-inlined copy {status['state']})"
    return "general (the target-inlined copy was not ready before the last diffusion sweep)"


def format_report(rep: dict) -> str:
    """The report as an aligned two-column table (long vectors summarised by min and max)."""
    rows = [
        ("target", f"{rep['target']} ({rep['dim']}-D, {rep['target_source']})"),
        ("stage", rep["stage"]),
        ("walkers", f"{rep['walkers']:,} ({rep['cold_walkers']:,} cold)"),
        ("draws", f"{rep['draws']:,} per cold walker"),
        ("sweeps", _fmt(rep["sweeps"])),
        ("lp evals", _fmt(rep["lp_evals"])),
        ("steps", _fmt(rep["steps"])),
        ("wall", f"{rep['wall_s']:.2f} s on {rep['threads']} thread{'s' if rep['threads'] != 1 else ''}"),
        *([("2-D kernel", _specialised(rep["specialised_2d"]))] if "specialised_2d" in rep else []),
        ("acceptance", _fmt(rep["acceptance"])),
        ("swap acceptance", _fmt(rep["swap_acceptance"])),
        ("temperatures", _fmt_vec([float(v) for v in rep["temperatures"]]) if len(rep.get("temperatures", ())) else "-"),
        ("pair acceptance", _fmt_vec(rep["pair_acceptance"]) if rep.get("pair_acceptance") else "-"),
        ("triggers", _fmt(rep["triggers"])),
        ("divergences", _fmt(rep["divergences"])),
        ("non-finite", _nonfinite(rep)),
        ("mean", _fmt_vec(rep["mean"])),
        ("sd", _fmt_vec(rep["sd"])),
    ]
    if rep.get("ess_min") is not None:
        rows.append(("ESS min / R-hat max", f"{_fmt(rep['ess_min'])} / {_fmt(rep.get('rhat_max'))} "
                                           "(ensemble-mean series)"))
    if "ks_p" in rep:
        rows.append(("KS p vs exact", _fmt_vec(rep["ks_p"])))
        rows.append(("sliced W1", _fmt(rep["sliced_w1"])))
    if "mass_fractions" in rep:
        labels = rep.get("components")
        rows.append(("mass fractions", _fmt_vec(rep["mass_fractions"], labels)))
        if "exact_mass_fractions" in rep:
            rows.append(("exact fractions", _fmt_vec(rep["exact_mass_fractions"], labels)))
    if rep.get("kept_sweeps") is not None and rep["kept_sweeps"] < rep.get("recorded_sweeps", 0):
        rows.insert(4, ("kept", f"the last {rep['kept_sweeps']:,} of {rep['recorded_sweeps']:,} recorded sweeps (--keep)"))
    if rep.get("out"):
        rows.append(("saved", rep["out"] + (" (partial)" if rep.get("partial") else "")))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)
