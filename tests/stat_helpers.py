"""One statistical helper that every sampler test reuses (as emcee does for its moves).

Every exactness check here is one *family* of statistics: the expectations E[f(x)] of a few
functionals f (`moment_functionals`) of one run, each compared with its closed-form value as
a t-score (estimate - truth) / MCSE. The family fails if any |t| exceeds a threshold chosen so
that a correct sampler fails the whole family with probability ``family_alpha`` (Šidák over
the number of statistics, `sidak`), 1% by default (`FAMILY_ALPHA`). The MCSE comes from
independent replicate ensembles (`compare_replicates`): R estimates, MCSE = their sd /
sqrt(R), Student's t with R - 1 df; exact whatever the autocorrelation.

Walkers of one ensemble are not independent chains (complementary-half proposals couple
them, swaps move states between walkers), so they are never treated as such. Batch means of
one run's ensemble-mean series were tried and dropped: on the ladder and the live ladder
change the series' autocorrelation times (ArviZ: 10-60 sweeps on hot rungs, up to 27 under
random-walk Metropolis) left test-sized batches too short, and the estimate of that time is
itself too noisy to check a batch length against. Each test states its family-wise rate as
measured by ``tests/sampler/measure_false_alarms.py`` over many other seeds, and runs a
negative control through the same check.

`compare_to_exact` / `ks_thinned` (the thread's stages in test_exact_stages.py) compare with a
large exact sample instead, with an ArviZ MCSE.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats

warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

#: family-wise false-alarm rate an exactness check is designed for (a correct sampler)
FAMILY_ALPHA = 0.01


class Check(NamedTuple):
    """Outcome of one exactness check: ``ok``; ``rows`` (name, estimate, truth, tolerance,
    t-score); the Student-t degrees of freedom and the per-statistic two-sided alpha used."""

    ok: bool
    rows: list
    df: int
    alpha: float

    def report(self) -> str:
        return f"{format_rows(self.rows)}\n  (t with {self.df} df, alpha {self.alpha:.2e} per statistic)"


def sidak(family_alpha: float, statistics: int) -> float:
    """Per-statistic alpha that gives ``family_alpha`` over ``statistics`` independent tests
    (and at most that when they are dependent, as moments of one run are)."""
    return 1.0 - (1.0 - family_alpha) ** (1.0 / statistics)


def _check(names, estimates, ses, truth, df, family_alpha, statistics):
    alpha = sidak(family_alpha, statistics or len(names))
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    rows = []
    for name, est, se in zip(names, estimates, ses):
        rows.append((name, float(est), float(truth[name]), crit * float(se), float((est - truth[name]) / se)))
    return Check(all(abs(r[4]) <= crit for r in rows), rows, int(df), alpha)


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
    """Rows (name, estimate, truth, tolerance, z-score) and whether every |z| <= ``z``:
    |estimate - truth| <= z * sqrt(MCSE^2 + SE_exact^2), the MCSE from `mcse_mean`, against a
    large exact sample (z = 2.33: 2% two-sided per statistic)."""
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
    return "\n".join(f"  {n:10s} est {e:9.4f} truth {t:9.4f} tol {tol:7.4f} t {zs:6.2f}" for n, e, t, tol, zs in rows)


def ks_thinned(draws: np.ndarray, exact: np.ndarray, sweeps_apart: int = 50) -> np.ndarray:
    """KS p-value per dimension for one draw per walker taken every ``sweeps_apart`` sweeps.

    Honest only if ``sweeps_apart`` is far beyond the autocorrelation time and the walkers
    are independent; neither holds for slow mode switching (scorpio under Metropolis), where
    the replicate check (`compare_replicates`) is used instead.
    """
    idx = np.arange(draws.shape[0] - 1, -1, -sweeps_apart)
    pool = draws[idx].reshape(-1, draws.shape[-1])
    return np.array([stats.ks_2samp(pool[:, j], exact[:, j]).pvalue for j in range(draws.shape[-1])])


# ------------------------------------------------------------------ closed-form truth
def gaussian_truth(weights, means, covs) -> dict:
    """Closed-form values of the ``gaussian`` functionals (`moment_functionals`) for a Gaussian
    mixture (one component: a Gaussian): E x = sum w mu, E x x' = sum w (Sigma + mu mu')."""
    w = np.asarray(weights, dtype=float)
    mu = np.asarray(means, dtype=float)
    cov = np.asarray(covs, dtype=float)
    m = w @ mu
    second = np.einsum("k,kij->ij", w, cov + np.einsum("ki,kj->kij", mu, mu))
    return {"mean x": m[0], "mean y": m[1], "E x^2": second[0, 0], "E y^2": second[1, 1], "E xy": second[0, 1]}


# ------------------------------------------------------------------ MCSE from replicates
def compare_replicates(replicates, truth: dict, kind: str = "gaussian", family_alpha: float = FAMILY_ALPHA,
                       statistics: int | None = None) -> Check:
    """Each functional's estimate against ``truth``, MCSE from independent replicate ensembles:
    each replicate's draws ``(draws, walkers, dim)`` give one estimate per functional; the MCSE
    is their sd / sqrt(R), the threshold Student's t with R - 1 df at the Šidák alpha for
    ``statistics`` tests (default: the functionals compared here; pass the family's size when
    one check makes several such calls). Exact whatever the autocorrelation (slow mode
    switching fools batch means and ESS estimates), provided the replicates share nothing
    that biases them together (own starts, own random streams, own proposals)."""
    r = len(replicates)
    names, ests, ses = [], [], []
    for name, f in moment_functionals(kind).items():
        if name not in truth:
            continue
        per = np.array([float(f(d).mean()) for d in replicates])
        names.append(name)
        ests.append(per.mean())
        ses.append(per.std(ddof=1) / np.sqrt(r))
    return _check(names, ests, ses, truth, r - 1, family_alpha, statistics)
