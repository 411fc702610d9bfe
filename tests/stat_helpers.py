"""One statistical helper that every sampler test reuses (as emcee does for its moves).

`compare_to_exact` checks expectations E[f(x)] of chosen functionals f of the recorded
draws against a large exact sample: |estimate - truth| <= z * sqrt(MCSE^2 + SE_exact^2),
with the MCSE from ArviZ's ESS of the ensemble-mean series (see `mcse_mean`). With z = 2.33 one comparison has a two-sided
false-alarm rate of 2% when the sampler is exact; tests state their family-wise rate.
`ks_thinned` runs scipy's two-sample KS on draws thinned to near independence.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")


def mcse_mean(chains: np.ndarray) -> float:
    """MCSE of the pooled mean of a (draws, walkers) array of a scalar functional.

    Walkers of an ensemble are coupled (complementary-half proposals, swaps shuffle points
    between walkers), so treating each walker as an independent chain overstates the ESS.
    Instead ArviZ estimates the ESS of the *ensemble-mean series* (one value per sweep),
    which sees the collective autocorrelation: MCSE = sd(series) / sqrt(ESS(series)).
    """
    import arviz as az

    series = np.asarray(chains).mean(axis=1)
    return float(np.ravel(az.mcse(series[None, :], method="mean"))[0])


def moment_functionals(kind: str = "gaussian"):
    """Functionals f(x) -> (draws, walkers) used to compare with exact draws.

    ``gaussian``: means, second moments and the cross moment (mean, variance and
    correlation); ``ring``: radial moments and the two rotation-sensitive second moments;
    ``funnel``: v's mean and second moment, P(x > 0) and P(|x| < 1) (x's moments are too
    heavy-tailed for a trustworthy MCSE).
    """
    if kind == "ring":  # angular functionals mix slowly on a ring; radial ones fast
        return {
            "E r": lambda X: np.hypot(X[..., 0], X[..., 1]),
            "E r^2": lambda X: X[..., 0] ** 2 + X[..., 1] ** 2,
            "E x^2-y^2": lambda X: X[..., 0] ** 2 - X[..., 1] ** 2,
            "E xy": lambda X: X[..., 0] * X[..., 1],
        }
    if kind == "funnel":
        return {
            "mean v": lambda X: X[..., -1],
            "E v^2": lambda X: X[..., -1] ** 2,
            "P(x>0)": lambda X: (X[..., 0] > 0.0).astype(float),
            "P(|x|<1)": lambda X: (np.abs(X[..., 0]) < 1.0).astype(float),
        }
    return {
        "mean x": lambda X: X[..., 0],
        "mean y": lambda X: X[..., 1],
        "E x^2": lambda X: X[..., 0] ** 2,
        "E y^2": lambda X: X[..., 1] ** 2,
        "E xy": lambda X: X[..., 0] * X[..., 1],
    }


def compare_to_exact(draws: np.ndarray, exact: np.ndarray, kind: str = "gaussian", z: float = 2.33):
    """Rows (name, estimate, truth, tolerance, z-score) and whether every |z| <= ``z``."""
    rows = []
    ok = True
    for name, f in moment_functionals(kind).items():
        fx = f(draws)
        fe = f(exact)
        est = float(fx.mean())
        truth = float(fe.mean())
        se = np.sqrt(mcse_mean(fx) ** 2 + fe.var() / fe.size)
        zs = (est - truth) / se
        ok &= abs(zs) <= z
        rows.append((name, est, truth, z * se, zs))
    return rows, bool(ok)


def format_rows(rows) -> str:
    return "\n".join(f"  {n:10s} est {e:9.4f} truth {t:9.4f} tol {tol:7.4f} z {zs:6.2f}" for n, e, t, tol, zs in rows)


def assert_matches_exact(draws, exact, kind="gaussian", z=2.33):
    rows, ok = compare_to_exact(draws, exact, kind, z)
    assert ok, "moments differ from exact draws beyond %.2f MCSE:\n%s" % (z, format_rows(rows))


def ks_thinned(draws: np.ndarray, exact: np.ndarray, sweeps_apart: int = 50) -> np.ndarray:
    """KS p-value per dimension for one draw per walker taken every ``sweeps_apart`` sweeps.

    Walkers are separate chains; ``sweeps_apart`` well beyond the autocorrelation time
    makes the pooled points close to independent, so the KS p-values are honest.
    """
    idx = np.arange(draws.shape[0] - 1, -1, -sweeps_apart)
    pool = draws[idx].reshape(-1, draws.shape[-1])
    return np.array([stats.ks_2samp(pool[:, j], exact[:, j]).pvalue for j in range(draws.shape[-1])])


# ------------------------------------------------------------------ closed-form truth, batch-means MCSE
def gaussian_truth(weights, means, covs) -> dict:
    """Closed-form values of the ``gaussian`` functionals (`moment_functionals`) for a Gaussian
    mixture (one component: a Gaussian): E x = sum w mu, E x x' = sum w (Sigma + mu mu')."""
    w = np.asarray(weights, dtype=float)
    mu = np.asarray(means, dtype=float)
    cov = np.asarray(covs, dtype=float)
    m = w @ mu
    second = np.einsum("k,kij->ij", w, cov + np.einsum("ki,kj->kij", mu, mu))
    return {"mean x": m[0], "mean y": m[1], "E x^2": second[0, 0], "E y^2": second[1, 1], "E xy": second[0, 1]}


def mcse_batch_means(series: np.ndarray, batches: int = 20) -> float:
    """MCSE of the mean of a per-sweep series (the ensemble mean of a functional) by batch
    means: ``batches`` contiguous batches, sd of their means / sqrt(batches). Honest when a
    batch is much longer than the series' autocorrelation time; used with Student's t
    (``batches - 1`` degrees of freedom) in `compare_to_truth`."""
    series = np.asarray(series, dtype=float)
    n = series.size // batches * batches
    means = series[series.size - n:].reshape(batches, -1).mean(axis=1)
    return float(means.std(ddof=1) / np.sqrt(batches))


def compare_to_truth(draws: np.ndarray, truth: dict, kind: str = "gaussian", alpha: float = 0.01,
                     batches: int = 20):
    """Rows (name, estimate, truth, tolerance, t-score) and whether every functional's
    |estimate - truth| <= t_{1 - alpha/2, batches - 1} x MCSE, the MCSE from batch means of the
    ensemble-mean series (`mcse_batch_means`); the truth is closed-form, so it adds no error.
    One comparison's false-alarm rate is ``alpha`` for an exact sampler."""
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, batches - 1))
    rows, ok = [], True
    for name, f in moment_functionals(kind).items():
        if name not in truth:
            continue
        series = f(draws).mean(axis=1)
        est = float(series.mean())
        se = mcse_batch_means(series, batches)
        ts = (est - truth[name]) / se
        ok &= abs(ts) <= crit
        rows.append((name, est, float(truth[name]), crit * se, ts))
    return rows, bool(ok)


def compare_replicates(replicates, truth: dict, kind: str = "gaussian", alpha: float = 0.01):
    """Like `compare_to_truth`, with the MCSE from independent replicate ensembles: each
    replicate's draws ``(draws, walkers, dim)`` give one estimate per functional; the MCSE is
    their sd / sqrt(R), the threshold Student's t with R - 1 degrees of freedom. Exact
    whatever the autocorrelation (slow mode switching fools batch means), at the price of
    running R samplers."""
    r = len(replicates)
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, r - 1))
    rows, ok = [], True
    for name, f in moment_functionals(kind).items():
        if name not in truth:
            continue
        per = np.array([float(f(d).mean()) for d in replicates])
        est, se = float(per.mean()), float(per.std(ddof=1) / np.sqrt(r))
        ts = (est - truth[name]) / se
        ok &= abs(ts) <= crit
        rows.append((name, est, float(truth[name]), crit * se, ts))
    return rows, bool(ok)
