"""The temperature ladder: how many rungs, how many walkers on each, and where they sit.

``rungs = auto`` picks the rung count for the dimension (`auto_rungs`), puts half the
walkers on the cold rung (only the cold rung is recorded; the hot rungs share the rest,
so rung sizes differ) and respaces the temperatures during warm-up with the dynamics of
Vousden, Farr & Mandel (2016; ptemcee's ``_get_ladder_adjustment``): the log of each gap
between adjacent temperatures moves by ``kappa (A_k - mean A)`` after each swap sweep,
where A_k is pair k's swap acceptance, and ``kappa`` decays hyperbolically (``lag / (t +
lag) / tau``). A gap whose pair swaps more often than the others widens, one that swaps
less narrows, so the rates equalise. Unlike ptemcee both ends are fixed (T = 1 and
``t_hot``), so the gaps are rescaled to span log t_hot. After warm-up the ladder is
frozen: swaps are then an exact move between fixed temperatures.

Why the count: for a target whose lp behaves like a Gaussian's in ``dim`` dimensions, a
swap between inverse temperatures with ratio rho = beta_k / beta_{k+1} has log acceptance
ratio ~ N(-m, 2m) with m = (dim / 2) (rho - 1)^2 / rho, so its acceptance is
2 Phi(-sqrt(m / 2)). 25% needs m = 2.65: rho ~ 2 at 10-D (3 rungs to 3.5), 1.24 at 100-D
(7 rungs), 1.075 at 1,000-D (18 rungs).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["auto_rungs", "spacing_ratio", "rung_assignment", "adapt_betas", "MIN_HOT_RUNG", "TARGET_SWAP"]

TARGET_SWAP = 0.25  # adjacent swap acceptance the rung count aims at
MIN_HOT_RUNG = 8  # walkers per hot rung at least (each half of a rung shapes the other's proposals)


def spacing_ratio(dim: int, target: float = TARGET_SWAP) -> float:
    """Temperature ratio of adjacent rungs whose swaps are accepted with probability ``target``
    for a Gaussian-like target of dimension ``dim`` (see the module docstring)."""
    m = 2.0 * stats.norm.ppf(target / 2.0) ** 2
    s = 2.0 * m / max(1, dim)
    # (rho - 1)^2 / rho = s
    return ((2.0 + s) + math.sqrt((2.0 + s) ** 2 - 4.0)) / 2.0


def auto_rungs(dim: int, t_hot: float, walkers: int, target: float = TARGET_SWAP) -> int:
    """Rungs of a geometric ladder from 1 to ``t_hot`` whose adjacent swaps are accepted
    about ``target`` of the time, capped so each hot rung keeps `MIN_HOT_RUNG` walkers
    (half the walkers stay cold) and at 64."""
    if t_hot <= 1.0:
        return 1
    k = 1 + math.ceil(math.log(t_hot) / math.log(spacing_ratio(dim, target)))
    cap = 1 + (walkers // 2) // MIN_HOT_RUNG
    return int(max(1, min(k, cap, 64)))


def rung_assignment(walkers: int, rungs: int, cold_share: float | None = None) -> np.ndarray:
    """Rung of each walker, in contiguous blocks (walker 0 is cold). ``cold_share=None``: equal
    blocks (the thread's); else the cold rung takes ``ceil(cold_share x walkers)`` (at least
    an equal share) and the hot rungs split the rest equally."""
    if cold_share is None or rungs <= 2:
        return (np.arange(walkers) * rungs) // walkers
    cold = max(math.ceil(cold_share * walkers), math.ceil(walkers / rungs))
    cold = min(cold, walkers - (rungs - 1))
    hot = walkers - cold
    rung = np.zeros(walkers, dtype=np.int64)
    rung[cold:] = 1 + (np.arange(hot) * (rungs - 1)) // hot
    return rung


def adapt_betas(betas: np.ndarray, acceptance: np.ndarray, t: int, lag: float, tau: float) -> np.ndarray:
    """One step of the ladder dynamics (module docstring): new inverse temperatures with
    betas[0] and betas[-1] unchanged. ``acceptance`` per adjacent pair (NaN: no attempt,
    that gap is left as it is); ``t`` counts updates so far."""
    temps = 1.0 / np.asarray(betas, dtype=np.float64)
    if temps.size < 3:
        return np.asarray(betas, dtype=np.float64).copy()
    log_t = np.log(temps)
    gaps = np.diff(log_t)
    a = np.asarray(acceptance, dtype=np.float64)
    seen = np.isfinite(a)
    if seen.sum() < 2:
        return np.asarray(betas, dtype=np.float64).copy()
    kappa = (lag / (t + lag)) / tau
    step = np.where(seen, kappa * (a - a[seen].mean()), 0.0)
    gaps = gaps * np.exp(step)
    gaps *= (log_t[-1] - log_t[0]) / gaps.sum()
    new_log_t = log_t[0] + np.concatenate([[0.0], np.cumsum(gaps)])
    new_log_t[-1] = log_t[-1]
    return 1.0 / np.exp(new_log_t)
