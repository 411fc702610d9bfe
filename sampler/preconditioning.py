"""Diagonal preconditioning of the diffusion stage, and its step-size control (issue 10).

A per-coordinate scale S serves twice: as the mass, M = mass / S^2 (unit-frequency motion in
the scaled coordinates y = x / S), and as the metric of the SPSA perturbation (`sampler.spsa`:
perturb by c S Delta), whose noise then grows like |S grad| (about sqrt(dim) near the typical
set) instead of |grad| (sum of 1/sd^2: ~10^8 on the 1,000-D stiff wells).

How S is estimated (read before choosing): Stan/BlackJAX window adaptation uses the sample
variance of positions from windows of one chain; Leimkuhler-Matthews-Weare ensemble
preconditioning uses the spread of the *other* walkers; MEADS (Hoffman and Sountsov 2022)
uses sqrt(Var(x) / Var(grad)) across the ensemble. Here the gradient is an SPSA estimate
whose noise (|S grad| per coordinate, the same for every coordinate) swamps a per-coordinate
gradient variance, so the gradient route is taken by curvature instead:

- ``ensemble``: 1.4826 x MAD of the walkers' positions per coordinate (robust to walkers
  still far out; the standard deviation where the MAD is zero);
- ``curvature``: also the diagonal curvature by central second differences of lp at a few
  walkers with median lp, S_j = min(spread_j, 1 / sqrt(median curvature_j)). For a normal
  target 1/sqrt(curvature) is the sd wherever the walkers are, so a dispersed start gets the
  stiff scales right at the first refresh; where lp is flat or convex (between modes) the
  spread takes over. Cost: 2 dim evaluations per probe walker (probes shrink with dim).

`DiffusionAdaptation` refreshes S and steers the step size between sweeps while the stage
warms up (``diffusion_warmup`` sweeps), then freezes both. Step size: the MCLMC rule
(Robnik et al. 2023): keep the mean square energy change of one integration step per
dimension near a target (MCLMC: 5e-4; here 5e-3, see `ENERGY_VARIANCE_PER_DIM`), by eps <- eps (target / measured)^(1/4) (clipped to a factor 2 per
sweep; 1/4: the change is ~eps^6 for an exact leapfrog, ~eps^2 when SPSA noise dominates,
and the root converges for both). ``step_size`` is the starting value; a change of the
setting (e.g. the dashboard's slider) sets the step size directly, during warm-up or after.

Search (``search``): a walker whose lp is more than ``search_sds`` x sqrt(dim/2) (the sd of lp of a
dim-dimensional normal) below the ensemble's 90th percentile of lp is far outside the typical
set; before the sweep it fits a diagonal quadratic model of lp where it stands (`newton_search`:
on a target with a gradient, the gradient and random-sign probes of it, 17 gradients,
`_newton_walkers_probed`; without one, central differences of lp, 2 dim + 1 evaluations). If the
rise the model predicts at its maximum is more than a normal's typical set would show
(`typical_gain`), the walker takes the Newton step (backtracking until lp rises), then runs its
trajectory like the others. Not to the mode but into the typical set: from the Newton point it
jumps to a draw of the diagonal Laplace approximation N(x, 1/curvature) (exact on a normal
target), kept if lp stays finite and above the start. Why not a damped SPSA trajectory: far out,
the SPSA noise in the scaled coordinates is |y| per coordinate, so each evaluation can shrink
|y|^2 by at most a factor (1 - 1/dim) (SGD on a quadratic); ~dim log(distance^2) evaluations per
walker (16,000 at 1,000-D) against 17 gradients for a Newton step on near-separable stiff
parameters. The ensemble's cut alone assumes the typical set's lp spreads like a normal's; where
it spreads wider (Neal's 10-D funnel: sd ~13.5 against sqrt(5) = 2.2) most of the typical set
counts as far out, and the walker's own model is what keeps it in place. Far out on the funnel
the Hessian is far from diagonal, the probed curvature is noisy, and a search there is a noisy
climb plus a wide draw whose overshoots the trim removes; an accurate diagonal model is what did
the harm, setting x to 0 at the walker's v, deep in the neck (`benchmarks/RESULTS.md`, run K).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from numba import types

from mdhmc.targets._jit import GRADIENT, LOG_DENSITY

from .chunks import blocks
from .threads import Split
from .rng import fill_normal, next_u64
from .jit import kernel, walker_kernel

__all__ = ["ensemble_scale", "curvature_scale", "estimate_scale", "searching", "search_enabled", "newton_search",
           "typical_gain", "DiffusionAdaptation", "ENERGY_VARIANCE_PER_DIM"]

#: mean square energy change of one step, per dimension: 10x MCLMC's 5e-4, which on scorpio
#: (diffusion only, multinomial weights) gave step sizes too short to mix in 20 sweeps
#: (sliced W1 0.53-0.61 against 0.29-0.36 at 5e-3; 2e-2 and above: 0.41-1.04, triggers fire)
ENERGY_VARIANCE_PER_DIM = 5e-3
_MAD_TO_SD = 1.482602218505602
_STEP_LIMITS = (1e-7, 100.0)  # the step_size setting's bounds, roughly
_PROBE_EVALS = 4_000_000  # coordinate-evaluations per curvature refresh, all probes together
SEARCH_QUANTILE = 0.9  # searchers are judged against this quantile of the ensemble's lp
#: on a target with a gradient the search takes it, and the diagonal curvature from SEARCH_PROBES
#: random-sign probes of it (2 x probes + 1 gradients, O(dim) each), whatever the trajectories'
#: ``gradient``: the search is a start-up device, not part of the dynamics. Without one, coordinate
#: differences of lp (2 dim + 1 evaluations: 20,001, 2 s per walker at 10,000-D), whose step must
#: grow far out to beat rounding (`_fit_differences`) and is then wide enough to miss curvature that
#: changes over it: from dispersed starts on Neal's 10-D funnel h_v reached 8-9, and a fifth of the
#: searchers got v's gradient or curvature more than 10% wrong (up to 150-500x); they were thrown
#: into the neck, where the ensemble never recovered them in 15 s
SEARCH_PROBES = 8


def ensemble_scale(positions: np.ndarray) -> np.ndarray:
    """1.4826 x MAD per coordinate (the sd where the MAD is 0, 1 where both are)."""
    med = np.median(positions, axis=0)
    mad = _MAD_TO_SD * np.median(np.abs(positions - med), axis=0)
    sd = positions.std(axis=0)
    out = np.where(mad > 0, mad, sd)
    return np.where(np.isfinite(out) & (out > 0), out, 1.0)


# explicit signatures over the function type: compiled once and cached for every target (a
# user's file included), as the stage kernels are, instead of once per target at its first sweep
_V1 = types.float64[::1]


@kernel(types.void(LOG_DENSITY, _V1, _V1, _V1), nogil=True, cache=True)
def _diag_curvature(log_density, x, h, out):
    """-(lp(x + h e_j) + lp(x - h e_j) - 2 lp(x)) / h_j^2 into ``out`` (x restored)."""
    lp0 = log_density(x)
    for j in range(x.shape[0]):
        x0 = x[j]
        x[j] = x0 + h[j]
        up = log_density(x)
        x[j] = x0 - h[j]
        down = log_density(x)
        x[j] = x0
        out[j] = -(up + down - 2.0 * lp0) / (h[j] * h[j])


def curvature_scale(target, positions: np.ndarray, lp: np.ndarray, spread: np.ndarray,
                    probes: int | None = None) -> np.ndarray:
    """min(spread, 1/sqrt(median diagonal curvature)) over ``probes`` walkers of median lp."""
    dim = positions.shape[1]
    if probes is None:
        probes = int(np.clip(_PROBE_EVALS // (2 * dim * dim), 1, 8))
    finite = np.flatnonzero(np.isfinite(lp))
    if finite.size == 0:
        return spread
    order = finite[np.argsort(np.abs(lp[finite] - np.median(lp[finite])))]
    h = 1e-3 * spread
    curv = np.empty((min(probes, order.size), dim))
    for r, i in enumerate(order[: curv.shape[0]]):
        _diag_curvature(target.log_density, positions[i].copy(), h, curv[r])
    c = np.median(curv, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.where(np.isfinite(c) & (c > 0), 1.0 / np.sqrt(c), np.inf)
    return np.minimum(spread, local)


def estimate_scale(kind: str, target, positions: np.ndarray, lp: np.ndarray) -> np.ndarray | None:
    """The scale of preconditioner ``kind`` ("none": None) from the ensemble."""
    if kind == "none":
        return None
    ok = np.isfinite(lp)
    pts = positions[ok] if ok.sum() >= 2 else positions
    spread = ensemble_scale(pts)
    if kind == "ensemble":
        return spread
    return curvature_scale(target, positions, lp, spread)


def search_enabled(settings) -> bool:
    """``search`` on and ``search_sds`` finite (1e308 is how presets and the dashboard write inf)."""
    return settings.search and settings.search_sds < 1e308


def searching(lp: np.ndarray, dim: int, search_sds: float) -> np.ndarray | None:
    """Walkers whose lp is more than ``search_sds`` sqrt(dim/2) below the ensemble's 90th
    percentile of lp (None: none). Not the median: from dispersed starts the median walker is
    itself far out, and the best tenth sets the level the others search toward."""
    if not search_sds < 1e308:
        return None
    ok = np.isfinite(lp)
    if not ok.any():
        return None
    cut = np.quantile(lp[ok], SEARCH_QUANTILE) - search_sds * math.sqrt(dim / 2.0)
    out = ok & (lp < cut)
    return out if out.any() else None


@nb.njit(inline="always", nogil=True, cache=True)
def _keep_if_higher(x, lp, i, work, new, lp0):
    """Move walker i to ``work`` if its lp ``new`` is finite and above ``lp0``; returns whether."""
    if math.isfinite(new) and new > lp0:
        for j in range(x.shape[1]):
            x[i, j] = work[j]
        lp[i] = new
        return True
    return False


@nb.njit(inline="always", nogil=True, cache=True)
def _newton_gain(grad, curv):
    """The rise in lp the diagonal quadratic model predicts at its maximum: sum g_j^2 / (2 c_j)."""
    gain = 0.0
    for j in range(grad.shape[0]):
        gain += grad[j] * grad[j] / (2.0 * curv[j])
    return gain


@nb.njit(inline="always", nogil=True, cache=True)
def _newton_step(log_density, x, lp, i, lp0, grad, curv, work, max_halvings):
    """The Newton step x + t grad / curv, t halved until lp rises above ``lp0``; returns the lp
    evaluations (walker i moved if lp[i] > lp0)."""
    d = x.shape[1]
    n_ev = 0
    t = 1.0
    for _ in range(max_halvings):
        for j in range(d):
            work[j] = x[i, j] + t * grad[j] / curv[j]
        n_ev += 1
        if _keep_if_higher(x, lp, i, work, log_density(work), lp0):
            break
        t *= 0.5
    return n_ev


@nb.njit(inline="always", nogil=True, cache=True)
def _laplace_draw(log_density, x, lp, rng, i, lp0, curv, noise, work):
    """Land in the typical set, not on the mode: a draw of the diagonal Laplace approximation
    N(x_i, 1/curv) kept if lp stays finite and above ``lp0``; ``curv`` and ``noise`` are
    overwritten. Returns the lp evaluations (1)."""
    d = x.shape[1]
    for j in range(d):
        curv[j] = 1.0 / math.sqrt(curv[j])
    fill_normal(rng, i, noise, curv)
    for j in range(d):
        work[j] = x[i, j] + noise[j]
    _keep_if_higher(x, lp, i, work, log_density(work), lp0)
    return 1


@nb.njit(inline="always", nogil=True, cache=True)
def _fit_differences(log_density, work, lp0, h, floor, grad, curv):
    """Gradient and diagonal curvature (floored at ``floor``) at ``work`` (lp ``lp0``) by central
    differences of lp, 2 dim evaluations; ``work`` is restored."""
    # far out |lp| is large and the second difference cancels: its rounding error relative to
    # the curvature is ~ 4 eps |lp| / (curvature h^2), 1-2% at lp = -1e8 with h = 1e-3 sd; a step
    # grown with sqrt(|lp|) keeps it near 1e-6 (a quadratic has no truncation error at any h)
    grow = min(max(1.0, math.sqrt(abs(lp0) * 1e-3)), 1000.0)
    for j in range(work.shape[0]):
        hj = h[j] * grow
        x0 = work[j]
        work[j] = x0 + hj
        up = log_density(work)
        work[j] = x0 - hj
        down = log_density(work)
        work[j] = x0
        grad[j] = (up - down) / (2.0 * hj)
        curv[j] = max(-(up + down - 2.0 * lp0) / (hj * hj), floor[j])
    return 2 * work.shape[0]


@nb.njit(inline="always", nogil=True, cache=True)
def _fit_probes(grad_log_density, rng, i, at, h, floor, probes, grad, curv, sign, probe):
    """The exact gradient at ``at`` and the diagonal curvature (floored at ``floor``) by
    ``probes`` random-sign probes of it (walker i's stream; ``probe`` is scratch); returns
    (finite, gradients spent)."""
    d = at.shape[0]
    one = np.uint64(1)
    g0 = grad_log_density(at)
    ok = True
    for j in range(d):
        grad[j] = g0[j]
        curv[j] = 0.0
        ok = ok and math.isfinite(g0[j])
    n_grad = 1
    for _ in range(probes):
        if not ok:
            break
        bits = np.uint64(0)
        for j in range(d):
            if j % 64 == 0:
                bits = next_u64(rng, i)
            sign[j] = 1.0 if (bits >> np.uint64(j % 64)) & one else -1.0
            probe[j] = at[j] + sign[j] * h[j]
        up = grad_log_density(probe)
        for j in range(d):
            probe[j] = at[j] - sign[j] * h[j]
        down = grad_log_density(probe)
        n_grad += 2
        for j in range(d):
            curv[j] += sign[j] * (down[j] - up[j]) / (2.0 * h[j])
    if ok:
        for j in range(d):
            c = curv[j] / probes
            ok = ok and math.isfinite(c)
            curv[j] = max(c, floor[j])
    return ok, n_grad


@walker_kernel(types.void(LOG_DENSITY, types.float64[:, ::1], _V1, types.uint64[:, ::1], types.int64[::1], _V1, _V1,
                   types.int64, types.boolean, types.float64, types.int64[::1]),
        nogil=True, cache=True)
def _newton_walkers(log_density, x, lp, rng, which, h, floor, max_halvings, laplace, min_gain, evals):
    """One diagonal Newton step, with backtracking, for the walkers ``which`` (in place).

    Central differences give the gradient and the diagonal curvature at once (2 dim + 1
    evaluations); the step is g_j / max(curvature_j, floor_j) (floor = 1/scale^2, so a flat or
    convex coordinate takes a gradient step in the preconditioner's metric), halved until lp
    rises, taken only if the rise the model predicts is more than ``min_gain``. On a normal target
    the first step lands on the mode whatever the distance; then (``laplace``) a draw of
    N(x, 1/curvature) from the walker's stream."""
    d = x.shape[1]
    for r in nb.prange(which.shape[0]):
        i = which[r]
        work = np.empty(d)
        grad = np.empty(d)
        curv = np.empty(d)
        for j in range(d):
            work[j] = x[i, j]
        lp0 = lp[i]
        n_ev = _fit_differences(log_density, work, lp0, h, floor, grad, curv)
        if _newton_gain(grad, curv) > min_gain:
            n_ev += _newton_step(log_density, x, lp, i, lp0, grad, curv, work, max_halvings)
            if laplace and lp[i] > lp0:
                n_ev += _laplace_draw(log_density, x, lp, rng, i, lp0, curv, grad, work)
        evals[r] = n_ev


@walker_kernel(types.void(LOG_DENSITY, GRADIENT, types.float64[:, ::1], _V1, types.uint64[:, ::1], types.int64[::1], _V1,
                   _V1, types.int64, types.boolean, types.float64, types.int64, types.int64[::1], types.int64[::1]),
        nogil=True, cache=True)
def _newton_walkers_probed(log_density, grad_log_density, x, lp, rng, which, h, floor, max_halvings, laplace,
                           min_gain, probes, evals, grad_evals):
    """`_newton_walkers` with the target's gradient: the exact gradient, and the diagonal
    curvature by Hutchinson-Bekas probes (Bekas, Kokiopoulou and Saad 2007). For random signs z,
    z_j (g(x - D z) - g(x + D z))_j / (2 h_j), D = diag(h), has mean -H_jj: exact with one probe
    when the Hessian is diagonal (stiff, well-identified parameters), averaged over ``probes``
    otherwise. 2 x probes + 1 gradients per fit instead of 2 dim + 1 evaluations of lp."""
    d = x.shape[1]
    for r in nb.prange(which.shape[0]):
        i = which[r]
        work = np.empty(d)
        grad = np.empty(d)
        curv = np.empty(d)
        sign = np.empty(d)
        lp0 = lp[i]
        ok, n_grad = _fit_probes(grad_log_density, rng, i, x[i], h, floor, probes, grad, curv, sign, work)
        n_ev = 0
        if ok and _newton_gain(grad, curv) > min_gain:
            n_ev += _newton_step(log_density, x, lp, i, lp0, grad, curv, work, max_halvings)
            if laplace and lp[i] > lp0:
                n_ev += _laplace_draw(log_density, x, lp, rng, i, lp0, curv, grad, work)
        evals[r] = n_ev
        grad_evals[r] = n_grad


def typical_gain(dim: int, search_sds: float) -> float:
    """dim/2 + search_sds sqrt(dim/2): at a point of a dim-dimensional normal, the maximum of the
    quadratic model lies lp_max - lp above it, chi^2_dim / 2, mean dim/2 and sd sqrt(dim/2)."""
    return dim / 2.0 + search_sds * math.sqrt(dim / 2.0)


#: the search's split over threads for its serial kernels, one per route (keyed by "takes the
#: gradient"); it only learns when a block is too small to hand to the pool
_SEARCH_SPLIT = {True: Split(), False: Split()}


def newton_search(target, positions: np.ndarray, lp: np.ndarray, rng: np.ndarray, which: np.ndarray, scale,
                  chunks=None, search_sds: float = 5.0) -> tuple[int, int]:
    """A diagonal Newton step, then a draw of the diagonal Laplace approximation there, for the
    searching walkers ``which`` (indices), in place (walker i draws from its stream ``rng[i]``);
    returns the (lp, gradient) evaluations spent. ``scale``: the preconditioner's (None: the
    ensemble's spread). ``chunks``: run the searchers in blocks, so that Ctrl-C and a stop request
    act between them. A searcher moves only if its own quadratic model is far from typical: the rise
    in lp it predicts at the model's maximum, sum g_j^2 / (2 c_j), is more than dim/2 + ``search_sds``
    sqrt(dim/2) (`typical_gain`); on a normal target that rise is dim/2 on average in the typical set,
    so a walker the ensemble's cut calls far out but whose own model says typical (Neal's funnel,
    whose lp spreads ~6x wider than a normal's) stays. A target with a gradient takes the gradient
    route (`_newton_walkers_probed`), others coordinate differences of lp."""
    which = np.ascontiguousarray(which, dtype=np.int64)
    if which.size == 0:
        return 0, 0
    sc = ensemble_scale(positions) if scale is None else np.asarray(scale, dtype=np.float64)
    evals = np.zeros(which.size, dtype=np.int64)
    grad_evals = np.zeros(which.size, dtype=np.int64)
    h, floor = 1e-3 * sc, 1.0 / sc**2
    min_gain = typical_gain(target.dim, search_sds)
    probed = target.grad_log_density is not None
    def part(newton, lo, hi):
        if probed:
            newton(target.log_density, target.grad_log_density, positions, lp, rng, which[lo:hi],
                   h, floor, 30, True, min_gain, SEARCH_PROBES, evals[lo:hi], grad_evals[lo:hi])
        else:
            newton(target.log_density, positions, lp, rng, which[lo:hi], h, floor, 30, True, min_gain, evals[lo:hi])

    newton = _newton_walkers_probed if probed else _newton_walkers
    for lo, hi in blocks(chunks, "search", which.size):
        newton.run(_SEARCH_SPLIT[probed], lo, hi, part)
    return int(evals.sum()), int(grad_evals.sum())


class DiffusionAdaptation:
    """Preconditioner scale and step size of the diffusion stage: adapted between sweeps while
    ``adapt`` is true (the stage's warm-up), frozen otherwise.

    ``scale`` (None: no preconditioning) and ``step_size`` are what the next sweep uses.
    ``refreshes`` and ``steers`` count the adaptations (a test checks they stop).
    """

    def __init__(self):
        self.scale = None
        self.kind = "none"
        self.step_size = None  # None: not yet seen a setting
        self.user_step_size = None
        self.refreshes = 0
        self.steers = 0

    def before_sweep(self, target, state, settings, adapt: bool, chunks=None):
        """Refresh the scale (warm-up, or the first sweep of a newly chosen preconditioner), take
        a changed ``step_size`` setting and move the searching walkers (`newton_search`);
        returns (scale, step_size, searching walkers, their lp evaluations, their gradient evaluations)."""
        if settings.step_size != self.user_step_size:
            # the user's value (first sweep, or a live change) is taken as it is
            self.user_step_size = settings.step_size
            self.step_size = settings.step_size
        if settings.precondition != self.kind:
            self.kind = settings.precondition
            self.scale = None
            self._refresh(target, state)
        elif adapt and self.kind != "none":
            self._refresh(target, state)
        search = searching(state.log_density, target.dim, settings.search_sds) if search_enabled(settings) else None
        if search is None:
            return self.scale, self.step_size, 0, 0, 0
        which = np.flatnonzero(search)
        evals, grad_evals = newton_search(target, state.positions, state.log_density, state.rng, which, self.scale,
                                          chunks, settings.search_sds)
        return self.scale, self.step_size, int(which.size), evals, grad_evals

    def _refresh(self, target, state):
        self.scale = estimate_scale(self.kind, target, state.positions, state.log_density)
        self.refreshes += self.scale is not None

    def after_sweep(self, settings, info, dim: int, adapt: bool):
        """Steer the step size from the sweep's energy changes (warm-up and adapt_step_size only)."""
        if not (adapt and settings.adapt_step_size) or info.step_dh2 is None:
            return
        dh2 = info.step_dh2[np.isfinite(info.step_dh2)]
        if dh2.size == 0:
            return
        measured = float(np.median(dh2)) / dim
        if measured <= 0:
            factor = 2.0
        else:
            factor = float(np.clip((ENERGY_VARIANCE_PER_DIM / measured) ** 0.25, 0.5, 2.0))
        self.step_size = float(np.clip(self.step_size * factor, *_STEP_LIMITS))
        self.steers += 1
