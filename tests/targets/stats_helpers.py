"""Statistical helpers for checking exact draws against a 2D target's ``log_density``.

The idea: integrate ``exp(log_density)`` numerically on a fine grid to get both 1D
marginal CDFs of a 2D target, then Kolmogorov-Smirnov-test each marginal of a set of
draws against them. Nothing here knows the closed form of any target; the only thing
the caller chooses is the grid.

The grid is a product grid in (row coordinate, z), where the *row* coordinate is one
of the two axes, sampled at ``rows`` (any increasing, possibly non-uniform, points), and
the other (*inner*) coordinate is ``offset[i] + scale[i] * z`` in row ``i``. With
``offset = 0, scale = 1`` that is a plain rectangular grid; a per-row ``scale`` lets a
grid follow a density whose width changes by orders of magnitude along the rows (Neal's
funnel: ``scale = exp(v / 2)``). The Jacobian ``scale[i]`` is included, so the result is
the marginal of the target itself, not of the reparameterised grid.

Accuracy: both integrals are trapezoid rules and the CDFs are piecewise-linear, so the
error is O(h^2) in the grid spacing; ``GridMarginals.edge_ratio`` (largest density on the
grid's boundary relative to its peak) says whether the grid holds essentially all of the
mass. With a few hundred points per sd the CDF error is far below the KS resolution at
n = 4000 draws (critical distance ~ 1.95 / sqrt(n) ~ 0.03 at alpha = 0.001).

>>> gm = grid_marginals(target, row_axis=0, rows=np.linspace(-8, 8, 801), z=np.linspace(-8, 8, 801))
>>> results = ks_marginals(gm, draws)        # [(axis, KS statistic, p-value), ...]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["GridMarginals", "grid_marginals", "rect_grid_marginals", "ks_marginals", "ALPHA"]

#: Per-test significance level used by the target suites. A correct sampler fails a
#: single KS test with probability ALPHA; over the 12 marginals of the six 2D built-ins
#: the family-wise false-alarm rate is 1 - (1 - 0.001)^12 ~ 1.2%. Seeds are fixed, so a
#: given checkout either always passes or always fails.
ALPHA = 1e-3


def _trapezoid_weights(t: np.ndarray) -> np.ndarray:
    """Weights w with sum(w * f(t)) = trapezoid rule of f on the (possibly uneven) points t."""
    d = np.diff(t)
    w = np.zeros_like(t)
    w[:-1] += d / 2
    w[1:] += d / 2
    return w


def _cumtrapz(y: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
    """Cumulative trapezoid integral along ``axis``, starting at 0 (same shape as y)."""
    y = np.moveaxis(y, axis, -1)
    inc = 0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(t)
    out = np.concatenate([np.zeros(y.shape[:-1] + (1,)), np.cumsum(inc, axis=-1)], axis=-1)
    return np.moveaxis(out, -1, axis)


@dataclass(frozen=True)
class GridMarginals:
    """Both marginal CDFs of a 2D density, from a grid integration (see module docstring)."""

    row_axis: int
    rows: np.ndarray  # (R,) row-coordinate values
    z: np.ndarray  # (Z,) standardised inner grid
    offset: np.ndarray  # (R,)
    scale: np.ndarray  # (R,)
    row_pdf: np.ndarray  # (R,) normalised marginal density of the row coordinate
    row_cdf_values: np.ndarray  # (R,) its CDF at ``rows``
    row_prob: np.ndarray  # (R,) quadrature probability of each row (sums to 1)
    cond_cdf: np.ndarray  # (R, Z) CDF of z given the row, on ``z``
    edge_ratio: float  # max density on the grid boundary / max density

    @property
    def inner_axis(self) -> int:
        return 1 - self.row_axis

    def inner_range(self) -> tuple[float, float]:
        """The range of the inner coordinate that the grid covers (over all rows)."""
        a = self.offset + self.scale * self.z[0]
        b = self.offset + self.scale * self.z[-1]
        return float(np.min(a)), float(np.max(b))

    def cdf(self, axis: int, x) -> np.ndarray:
        """Marginal CDF of coordinate ``axis`` at the points ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if axis == self.row_axis:
            return np.interp(x, self.rows, self.row_cdf_values, left=0.0, right=1.0)
        if axis != self.inner_axis:
            raise ValueError(f"axis must be 0 or 1, got {axis}")
        flat = x.ravel()
        out = np.zeros(flat.shape)
        for i in np.flatnonzero(self.row_prob > 0):
            zq = (flat - self.offset[i]) / self.scale[i]
            out += self.row_prob[i] * np.interp(zq, self.z, self.cond_cdf[i], left=0.0, right=1.0)
        return np.clip(out, 0.0, 1.0).reshape(x.shape)

    def covers(self, axis: int, draws: np.ndarray) -> float:
        """Fraction of ``draws[:, axis]`` inside the grid's range for that coordinate."""
        v = np.asarray(draws)[:, axis]
        lo, hi = (self.rows[0], self.rows[-1]) if axis == self.row_axis else self.inner_range()
        return float(np.mean((v >= lo) & (v <= hi)))


def grid_marginals(target, row_axis: int, rows, z, offset=None, scale=None) -> GridMarginals:
    """Integrate ``exp(target.log_density)`` of a 2D target on a (row, offset + scale * z) grid.

    ``rows`` and ``z`` are increasing 1D arrays; ``offset`` and ``scale`` are scalars or
    arrays like ``rows`` (default 0 and 1: a rectangular grid). Uses
    ``target.log_density_batch``, so the density is evaluated by the compiled function
    the samplers use.
    """
    if target.dim != 2:
        raise ValueError(f"grid_marginals needs a 2D target, got dim={target.dim}")
    if row_axis not in (0, 1):
        raise ValueError("row_axis must be 0 or 1")
    rows = np.asarray(rows, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if np.any(np.diff(rows) <= 0) or np.any(np.diff(z) <= 0):
        raise ValueError("rows and z must be strictly increasing")
    R, Z = rows.size, z.size
    offset = np.broadcast_to(np.asarray(0.0 if offset is None else offset, dtype=np.float64), (R,)).copy()
    scale = np.broadcast_to(np.asarray(1.0 if scale is None else scale, dtype=np.float64), (R,)).copy()
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise ValueError("scale must be positive and finite")

    inner = offset[:, None] + scale[:, None] * z[None, :]  # (R, Z)
    X = np.empty((R, Z, 2))
    X[..., row_axis] = rows[:, None]
    X[..., 1 - row_axis] = inner
    logp = target.log_density_batch(X.reshape(-1, 2)).reshape(R, Z)
    if np.any(np.isnan(logp)) or np.any(logp == np.inf):
        raise ValueError("log_density is nan or +inf somewhere on the grid")
    logp = logp + np.log(scale)[:, None]  # Jacobian of inner = offset + scale * z
    dens = np.exp(logp - np.max(logp))

    boundary = np.concatenate([dens[0], dens[-1], dens[:, 0], dens[:, -1]])
    edge_ratio = float(boundary.max())  # peak is 1 after the shift

    row_mass = np.trapezoid(dens, z, axis=1) if hasattr(np, "trapezoid") else np.trapz(dens, z, axis=1)
    cum = _cumtrapz(dens, z, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.where(row_mass[:, None] > 0, cum / row_mass[:, None], 0.0)
    total = float(np.sum(_trapezoid_weights(rows) * row_mass))
    if not total > 0:
        raise ValueError("the density integrates to 0 on the grid")
    row_pdf = row_mass / total
    row_cdf_values = _cumtrapz(row_pdf, rows)
    row_cdf_values = row_cdf_values / row_cdf_values[-1]
    row_prob = _trapezoid_weights(rows) * row_pdf
    row_prob = row_prob / row_prob.sum()
    return GridMarginals(
        row_axis=row_axis,
        rows=rows,
        z=z,
        offset=offset,
        scale=scale,
        row_pdf=row_pdf,
        row_cdf_values=row_cdf_values,
        row_prob=row_prob,
        cond_cdf=cond,
        edge_ratio=edge_ratio,
    )


def rect_grid_marginals(target, box, n: int = 801, row_axis: int = 0) -> GridMarginals:
    """`grid_marginals` on the rectangle ``box = ((lo0, hi0), (lo1, hi1))`` with n x n points."""
    (lo0, hi0), (lo1, hi1) = box
    lims = [(lo0, hi0), (lo1, hi1)]
    rows = np.linspace(*lims[row_axis], n)
    z = np.linspace(*lims[1 - row_axis], n)
    return grid_marginals(target, row_axis, rows, z)


def ks_marginals(gm: GridMarginals, draws: np.ndarray) -> list[tuple[int, float, float]]:
    """KS test of each column of ``draws`` (n, 2) against the grid marginal CDFs.

    Returns ``[(axis, statistic, pvalue), ...]`` for axis 0 and 1.
    """
    draws = np.asarray(draws, dtype=np.float64)
    out = []
    for axis in (0, 1):
        res = stats.kstest(draws[:, axis], lambda x, a=axis: gm.cdf(a, x))
        out.append((axis, float(res.statistic), float(res.pvalue)))
    return out
