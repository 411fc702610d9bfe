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

import functools
import warnings

import numpy as np
from scipy import stats

__all__ = ["ess_rhat", "ks_pvalues", "ks_statistics", "sliced_w1", "mass_fractions", "thin_pool",
           "marginal_z_errors", "summary", "ExactReference", "directions", "ks_sorted", "sorted_quantiles",
           "ESS_METHOD", "GROUPS"]

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
    chains = group_means(draws)  # (groups, n, d)
    mcse, rhat = np.full(d, np.nan), np.full(d, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # one (chain, draw) array per coordinate: ArviZ computes it directly, without building an
        # xarray Dataset (20x faster; the live page asks several times a second per session)
        for j in range(d):
            mcse[j] = np.asarray(az.mcse(chains[:, :, j], method="mean"), dtype=float).item()
            if w >= 2:
                rhat[j] = np.asarray(az.rhat(chains[:, :, j]), dtype=float).item()
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


def directions(dim: int, n_directions: int = 64, seed: int = 0) -> np.ndarray:
    """``(n_directions, dim)`` random unit vectors, fixed by ``seed`` (those of `sliced_w1`)."""
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_directions, dim))
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def sliced_w1(a: np.ndarray, b: np.ndarray, n_directions: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance: mean over random unit directions of the 1-D W1
    (scipy.stats.wasserstein_distance) between the projections."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.mean([stats.wasserstein_distance(a @ u, b @ u) for u in directions(a.shape[1], n_directions,
                                                                                          seed)]))


def ks_sorted(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    """Two-sample KS statistic (as scipy.stats.ks_2samp) of two sorted samples.

    sup |F_a - F_b| is reached at a point of ``a`` (F_a - F_b, F_a right-continuous) or just
    below one (F_b - F_a): so only ``a``'s points are looked up in ``b`` -- a small sample
    against a large reference costs n log m, not (n + m) log(n m). Within a run of ties the
    last (first) point gives the exact value and the others no more than it."""
    n, m = a_sorted.size, b_sorted.size
    k = np.arange(n)
    above = (k + 1) / n - np.searchsorted(b_sorted, a_sorted, "right") / m
    below = np.searchsorted(b_sorted, a_sorted, "left") / m - k / n
    return float(max(above.max(), below.max()))


def sorted_quantiles(col_sorted: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``np.quantile(col, probs)`` (linear interpolation) of a sorted column."""
    n = col_sorted.size
    pos = np.asarray(probs, dtype=np.float64) * (n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    return col_sorted[lo] + (pos - lo) * (col_sorted[hi] - col_sorted[lo])


class ExactReference:
    """Exact draws prepared once for many comparisons (a live page compares every half second):
    each coordinate sorted (KS, Q-Q quantiles) and the projections on `directions` sorted
    (sliced W1). The answers equal `ks_statistics`, `np.quantile` and `sliced_w1` on the same
    draws (tests/sampler/test_diagnostics_reference.py); only the sorting of ``exact`` is saved."""

    def __init__(self, exact: np.ndarray, n_directions: int = 64, seed: int = 0, w1_points: int | None = None):
        self.exact = np.asarray(exact, dtype=np.float64)
        self.n, self.dim = self.exact.shape
        self.sorted = np.sort(self.exact, axis=0).T.copy()  # (dim, n)
        self.dirs = directions(self.dim, n_directions, seed)
        # W1 against the first ``w1_points`` draws (its cost grows with them; its noise floor is
        # set by the smaller sample anyway)
        self.w1_exact = self.exact[:w1_points] if w1_points else self.exact
        self.proj_sorted = np.sort(self.w1_exact @ self.dirs.T, axis=0).T.copy()  # (n_directions, w1 points)

    def quantiles(self, j: int, probs: np.ndarray) -> np.ndarray:
        """``np.quantile(exact[:, j], probs)`` from the sorted column."""
        return sorted_quantiles(self.sorted[j], probs)

    def ks(self, sample_sorted: np.ndarray, j: int) -> float:
        """KS statistic of the sorted 1-D ``sample_sorted`` against coordinate ``j``."""
        return ks_sorted(sample_sorted, self.sorted[j])

    def sliced_w1(self, sample: np.ndarray) -> float:
        """`sliced_w1(sample, w1_exact)` with this reference's directions: W1 = integral over
        t in (0, 1) of |Q_sample(t) - Q_exact(t)|, both quantile functions steps, summed over the
        pieces between their breakpoints for every direction at once."""
        proj = np.sort(np.asarray(sample, dtype=np.float64) @ self.dirs.T, axis=0).T  # (n_directions, n)
        ia, ib, width = _quantile_pieces(proj.shape[1], self.proj_sorted.shape[1])
        return float(np.mean(np.abs(proj[:, ia] - self.proj_sorted[:, ib]) @ width))


@functools.lru_cache(maxsize=8)
def _quantile_pieces(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces on which the quantile functions of an n-point and an m-point sample are both
    constant: order-statistic indices into each and the pieces' widths. Breakpoints k/n and l/m
    on the integer scale n*m, so that shared ones merge exactly."""
    cuts = np.union1d(np.arange(1, n + 1, dtype=np.int64) * m, np.arange(1, m + 1, dtype=np.int64) * n)
    width = np.diff(cuts, prepend=0) / (n * m)
    return (cuts + m - 1) // m - 1, (cuts + n - 1) // n - 1, width


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
