"""Accuracy and mixing diagnostics shared by the CLI, the dashboard and the benchmarks.

ESS and R-hat come from ArviZ; KS tests from scipy.stats. Everything here takes plain
arrays: ``draws`` is ``(n_draws, walkers, dim)`` and ``exact`` is ``(n, dim)``.

Walkers are not chains: swaps move states between walker slots and the ensemble moves
couple every walker to the others, so per-walker ESS overstates the information (65x on a
tempering run) and per-walker R-hat raises false alarms. `ess_rhat` therefore works on
series that are chains: the means of `GROUPS` interleaved groups of walkers, one value per
sweep each (functions of the whole ensemble's Markov chain), given to ArviZ as
`GROUPS` chains (`ESS_METHOD` says so in the report and the UI).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["ess_rhat", "ks_pvalues", "ks_statistics", "sliced_w1", "mass_fractions", "thin_pool",
           "marginal_z_errors", "summary", "ESS_METHOD", "GROUPS"]

GROUPS = 4
ESS_METHOD = (f"ESS and R-hat of the ensemble-mean series ({GROUPS} interleaved walker groups as chains, ArviZ): "
              "ESS = var / MCSE^2 of the ensemble mean")


def group_means(draws: np.ndarray, groups: int = GROUPS) -> np.ndarray:
    """``(groups, n_draws, dim)``: per sweep, the mean of walkers g, g + groups, g + 2 groups, ..."""
    draws = np.asarray(draws, dtype=np.float64)
    g = max(1, min(groups, draws.shape[1]))
    return np.stack([draws[:, k::g].mean(axis=1) for k in range(g)])


def ess_rhat(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ESS and rank-normalised R-hat per dimension (ArviZ) on the ensemble-mean series
    (`ESS_METHOD`). The ESS is in draws of one walker: var(x) / MCSE(mean)^2, where the
    MCSE comes from ArviZ's ESS of the group-mean chains.

    Returns NaNs when there are fewer than 4 draws (R-hat: or fewer than 2 walkers).
    """
    import arviz as az

    draws = np.asarray(draws, dtype=np.float64)
    n, w, d = draws.shape
    if n < 4 or w < 1:
        return np.full(d, np.nan), np.full(d, np.nan)
    chains = az.convert_to_dataset(group_means(draws))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mcse = np.asarray(az.mcse(chains, method="mean")["x"], dtype=float).reshape(d)
        rhat = (np.asarray(az.rhat(chains)["x"], dtype=float).reshape(d) if w >= 2 else np.full(d, np.nan))
    var = draws.reshape(-1, d).var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.where(mcse > 0, var / mcse**2, np.nan)
    return ess, rhat


def thin_pool(draws: np.ndarray, max_points: int = 4000, rng: np.random.Generator | None = None) -> np.ndarray:
    """At most ``max_points`` draws pooled over walkers and thinned evenly in time.

    Walkers are independent chains, so taking every k-th sweep of all walkers keeps the
    pool close to independent when k is near the autocorrelation time.
    """
    draws = np.asarray(draws)
    n, w, d = draws.shape
    if n * w <= max_points:
        return draws.reshape(-1, d)
    per_sweep = max(1, max_points // w)
    if per_sweep >= n:
        pool = draws.reshape(-1, d)
    else:
        idx = np.linspace(0, n - 1, per_sweep).round().astype(int)
        pool = draws[idx].reshape(-1, d)
    if pool.shape[0] > max_points:
        rng = rng or np.random.default_rng(0)
        pool = pool[rng.choice(pool.shape[0], max_points, replace=False)]
    return pool


def ks_pvalues(sample: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Two-sample KS p-value per dimension (scipy.stats.ks_2samp)."""
    return np.array([stats.ks_2samp(sample[:, j], exact[:, j]).pvalue for j in range(sample.shape[1])])


def ks_statistics(sample: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.array([stats.ks_2samp(sample[:, j], exact[:, j]).statistic for j in range(sample.shape[1])])


def sliced_w1(a: np.ndarray, b: np.ndarray, n_directions: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance: mean over random unit directions of the 1-D W1
    (scipy.stats.wasserstein_distance) between the projections."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_directions, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return float(np.mean([stats.wasserstein_distance(a @ u, b @ u) for u in dirs]))


def mass_fractions(target, X: np.ndarray) -> np.ndarray:
    """Fraction of rows of ``X`` in each mixture component (the target's own classifier)."""
    k = len(target.component_weights)
    labels = target.component_of(np.asarray(X).reshape(-1, target.dim))
    return np.bincount(labels, minlength=k)[:k] / max(1, labels.size)


def marginal_z_errors(sample: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension |mean error| / true sd and sample sd / true sd (n-D accuracy)."""
    return np.abs(sample.mean(axis=0) - mean) / sd, sample.std(axis=0) / sd


def summary(target, draws: np.ndarray, final: np.ndarray, exact_n: int = 20_000, seed: int = 12345,
            max_pool: int = 4000) -> dict:
    """Accuracy summary against exact draws, where the target has them (JSON-friendly)."""
    out: dict = {}
    pool = thin_pool(draws, max_pool) if len(draws) else np.asarray(final)
    out["mean"] = pool.mean(axis=0).tolist()
    out["sd"] = pool.std(axis=0).tolist()
    if target.has_exact:
        exact = np.asarray(target.sample_exact(exact_n, np.random.default_rng(seed)))
        out["ks_p"] = ks_pvalues(pool, exact).tolist()
        out["sliced_w1"] = sliced_w1(pool, exact[: max(max_pool, 4000)])
        if target.is_mixture:
            out["exact_mass_fractions"] = mass_fractions(target, exact).tolist()
    if target.is_mixture:
        out["mass_fractions"] = mass_fractions(target, pool).tolist()
    return out
