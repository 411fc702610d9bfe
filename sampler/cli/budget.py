"""What a run will hold in memory, checked against this machine before sampling starts.

A run keeps its ensemble (positions, per-walker scratch of the kernels) and the recorded cold
draws (``recorded sweeps x cold walkers x dim`` floats, held twice while saving). The budget is
half of the memory available now (psutil if installed, else ``os.sysconf``). A run over it is
refused in one line that says how big it would be and what to change.
"""

from __future__ import annotations

import math
import os

from .errors import CLIError

__all__ = ["memory_budget", "recorded_sweeps", "cold_walkers", "check_memory"]

FLOAT = 8
# floats per walker and dimension: positions + diffusion scratch (7) + Metropolis proposal sd and
# scratch (2) + HMC scratch (2) and divergence points (1)
ENSEMBLE_FLOATS = 13


def memory_budget() -> int:
    """Bytes a run may use: half of the memory available now (of all memory if unknown)."""
    try:
        import psutil

        return psutil.virtual_memory().available // 2
    except ImportError:
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE") // 2
        except (ValueError, OSError, AttributeError):
            continue
    return 1 << 62  # no way to tell: no limit


def recorded_sweeps(stage: str, s) -> int:
    """Sweeps whose cold ensemble a headless run records."""
    if stage == "diffusion":
        return s.diffusion_sweeps
    return max(0, s.sweeps - s.warmup)


def cold_walkers(stage: str, s) -> int:
    """Walkers on the cold rung (`ladder.rung_assignment`): an equal share of a fixed ladder; with
    rungs = auto, all walkers (an upper bound: about half stay cold)."""
    if stage not in ("tempering", "pipeline") or s.rungs == 1:
        return s.walkers
    if s.rungs is None:
        return s.walkers
    return math.ceil(s.walkers / s.rungs)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"


def check_memory(stage: str, s, dim: int, keep: int | None, budget: int | None = None) -> int:
    """Refuse a run over the memory budget (`CLIError`); returns the recorded sweeps it keeps."""
    budget = memory_budget() if budget is None else budget
    where = f"this machine's memory budget of {_size(budget)} (half of the memory available now)"
    ensemble = s.walkers * dim * ENSEMBLE_FLOATS * FLOAT + (s.steps + 1) * (dim + 5) * FLOAT
    if ensemble > budget:
        raise CLIError(f"--walkers {s.walkers:,} x {dim:,} dims needs about {_size(ensemble)} of working memory, "
                       f"above {where}; use fewer walkers (or a lower --dim)")
    recorded = recorded_sweeps(stage, s)
    kept = recorded if keep is None else min(keep, recorded)
    per_sweep = cold_walkers(stage, s) * dim * FLOAT * 2  # the ring of sweeps, and the array saved from it
    if ensemble + kept * per_sweep > budget:
        fits = max(0, (budget - ensemble) // per_sweep)
        raise CLIError(f"this run would record {kept:,} sweeps x {cold_walkers(stage, s):,} cold walkers x {dim:,} "
                       f"dims = {_size(kept * per_sweep / 2)} of draws (twice that while saving), above {where}; "
                       + (f"keep the last {fits:,} sweeps with --keep {fits}, or " if fits else "")
                       + "lower --sweeps or --walkers")
    return kept
