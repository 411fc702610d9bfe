"""Moves and the schedule of weighted moves that makes each phase (as in emcee).

A *move* wraps one stage's kernel (``build_kernel(...) -> step(state, ...) -> (state,
info)``) with what the driver needs around it: the per-sweep settings it reads, its
warm-up adaptation state (`sampler.adaptation`, explicit: the move keeps the state the
rule returns) and the entries it adds to the sweep's record. Its ``run(state, settings,
adapt)`` returns a `MoveRecord`.

A phase is a `Schedule` of (move, weight) pairs (`PHASE_MOVES`); each sweep runs one
move, the first k with u < cumulative weight k for u uniform on the ensemble stream.
A schedule of one move draws nothing, so adding the schedule changed no draw: tempering's
(Metropolis 1/2, swap 1/2) is exactly the former coin ``u < 0.5``.

The exact moves of the Metropolis and tempering phases are the ``moves`` setting's mix
(`mix_names`, `phase_moves`): random-walk Metropolis (``rwm``, the move named
``"metropolis"``) and the ensemble moves (`EnsembleMove`: ``de``, ``stretch``, ``dime``),
with equal weights; tempering gives the mix half the sweeps and swaps the other half, as
the thread did with Metropolis alone. DE and stretch alone cannot leave the affine hull of
the ensemble, so a mix of only them gains ``rwm`` where that hull is not the whole space
(`spans_the_space`, checked when an exact phase starts).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Sequence

import numpy as np

from . import diffusion, hmc, ladder, metropolis, moves_de, moves_dime, moves_stretch, tempering
from .adaptation import RobbinsMonro
from .preconditioning import DiffusionAdaptation, search_enabled
from .rng import uniform

__all__ = ["Move", "MoveRecord", "Schedule", "PHASE_MOVES", "DiffusionMove", "MetropolisMove", "SwapMove",
           "HMCMove", "EnsembleMove", "ENSEMBLE_KERNELS", "mix_names", "phase_moves", "spans_the_space"]

#: phase -> ((move name, weight), ...): what a sweep of that phase does
PHASE_MOVES = {
    "diffusion": (("diffusion", 1.0),),
    "metropolis": (("metropolis", 1.0),),
    "tempering": (("metropolis", 0.5), ("swap", 0.5)),
    "hmc": (("hmc", 1.0),),
}


#: the ensemble moves by their name in the ``moves`` setting: their ``build_kernel(target, rung, betas)``
ENSEMBLE_KERNELS = {"de": moves_de.build_kernel, "stretch": moves_stretch.build_kernel,
                    "dime": moves_dime.build_kernel}


#: Affine-invariant moves (DE, stretch) propose affine combinations of walkers, so the ensemble
#: never leaves the affine hull of its positions (swaps only permute them). A mix of only them
#: therefore gains random-walk Metropolis when the hull cannot be, or is not, the whole space:
#: fewer than 2 walkers per dimension (emcee's own warning), or walkers on a lower-dimensional set
#: (e.g. all started at one point). Ranks are computed up to this dimension (an SVD of the
#: ensemble); above it only the walker count and coordinates with no spread are checked.
WALKERS_PER_DIM = 2
RANK_CHECK_MAX_DIM = 500
AFFINE_MOVES = frozenset({"de", "stretch"})


def spans_the_space(positions: np.ndarray) -> bool:
    """Whether the walkers' affine hull is the whole space, with 2 walkers per dimension or more."""
    n, dim = positions.shape
    if n < WALKERS_PER_DIM * dim or not np.all(np.ptp(positions, axis=0) > 0):
        return False
    if dim > RANK_CHECK_MAX_DIM:
        return True
    centred = positions - positions.mean(axis=0)
    return bool(np.isfinite(centred).all() and np.linalg.matrix_rank(centred) == dim)


def mix_names(mix: str, spans: bool = True) -> tuple[str, ...]:
    """Move names (keys of `Sampler.moves`) of a ``moves`` setting such as ``"de+stretch"``;
    with ``spans`` False (`spans_the_space`) a mix of only affine moves gains ``"metropolis"``."""
    names = tuple("metropolis" if m == "rwm" else m for m in mix.split("+"))
    if not spans and set(names) <= AFFINE_MOVES:
        names += ("metropolis",)
    return names


def phase_moves(mix: str, spans: bool = True) -> dict:
    """`PHASE_MOVES` with the Metropolis and tempering phases made of the mix ``mix`` (`mix_names`;
    equal weights; tempering: the mix half the sweeps, swaps the other half)."""
    names = mix_names(mix, spans)
    return {**PHASE_MOVES,
            "metropolis": tuple((m, 1.0) for m in names),
            "tempering": tuple((m, 0.5 / len(names)) for m in names) + (("swap", 0.5),)}


class MoveRecord(NamedTuple):
    fields: dict  # entries of the sweep's record
    counts: dict  # integer counters: entries of the record, and added to the sampler's totals
    info: tuple  # the kernel's own info (DiffusionInfo, MetropolisInfo, SwapInfo, HMCInfo)


class Move(Protocol):
    name: str

    def run(self, state, settings, adapt: bool, chunks=None) -> MoveRecord:
        """Advance ``state`` in place; adapt (warm-up) only when ``adapt``; ``chunks``
        (`sampler.chunks.Chunks`): run the walkers in blocks (same draws)."""

    def points_in_flight(self, lo: int, hi: int) -> np.ndarray:
        """Points (rows) where walkers ``lo..hi-1`` last called the log density or gradient."""


class Schedule:
    """Moves with weights; `choose` picks the move of one sweep."""

    def __init__(self, moves: Sequence[tuple[Move, float]]):
        if not moves:
            raise ValueError("a schedule needs at least one move")
        weights = np.array([w for _, w in moves], dtype=np.float64)
        if not np.all(weights > 0):
            raise ValueError(f"move weights must be positive, got {weights.tolist()}")
        self.moves = tuple(m for m, _ in moves)
        cumulative = np.cumsum(weights) / weights.sum()
        cumulative[-1] = 1.0  # u < 1 always: the last move takes what rounding leaves
        self.cumulative = tuple(float(c) for c in cumulative)

    def choose(self, state) -> Move:
        """The move for this sweep; one uniform from the ensemble stream unless there is one move."""
        if len(self.moves) == 1:
            return self.moves[0]
        u = uniform(state.rng, state.walkers)
        for move, cum in zip(self.moves, self.cumulative):
            if u < cum:
                return move
        return self.moves[-1]


class DiffusionMove:
    """One momentum-diffusion trajectory per walker (`sampler.diffusion`); during the stage's
    warm-up (``adapt``) the preconditioner and the step size adapt, then they are frozen
    (`sampler.preconditioning.DiffusionAdaptation`)."""

    name = "diffusion"

    def __init__(self, target, mass=None, tracked: int = 0):
        self.target = target
        self.step = diffusion.build_kernel(target, mass, tracked)
        self.adaptation = DiffusionAdaptation()

    def run(self, state, settings, adapt: bool, chunks=None) -> MoveRecord:
        scale, step_size, searchers, search_evals, search_grads = self.adaptation.before_sweep(
            self.target, state, settings, adapt, chunks)
        params = diffusion.DiffusionParams.from_settings(settings)
        if step_size != params.step_size:
            params = params._replace(step_size=step_size)
        _, info = self.step(state, params, chunks, scale)
        self.adaptation.after_sweep(settings, info, self.target.dim, adapt)
        fields = dict(mean_U=info.mean_U, mean_K=info.mean_K, mean_H=info.mean_H, mean_herr=info.mean_herr,
                      mean_abs_herr=info.mean_abs_herr, chosen_herr=info.chosen_herr)
        if settings.precondition != "none" or settings.adapt_step_size:
            fields["diffusion_step_size"] = step_size
        if info.tracked is not None and len(info.tracked.energies):
            e = info.tracked.energies
            fields.update(tracked_U=float(e[:, 0].mean()), tracked_K=float(e[:, 1].mean()),
                          tracked_H=float(e[:, 2].mean()), tracked_herr=float(e[:, 3].mean()))
        counts = dict(lp_evals=info.lp_evals, grad_evals=info.grad_evals, steps=info.steps, triggers=info.triggers,
                      abandoned=info.abandoned)
        counts["lp_evals"] += search_evals
        counts["grad_evals"] += search_grads
        if search_enabled(settings):
            counts["searching"] = searchers
        return MoveRecord(fields, counts, info)

    def points_in_flight(self, lo, hi):
        scratch = self.step.buffers.get("scratch")
        return np.empty((0, 0)) if scratch is None else np.concatenate([scratch[lo:hi, 0], scratch[lo:hi, 5]])


class MetropolisMove:
    """Random-walk Metropolis at each walker's rung temperature (`sampler.metropolis`), its
    per-rung scale adapted during warm-up unless fixed (``scale`` given)."""

    name = "metropolis"

    def __init__(self, target, rung, betas, target_accept: float, scale: float | None = None,
                 report_hot: bool = False):
        self.step = metropolis.build_kernel(target, rung, betas)
        self.rule = RobbinsMonro(target_accept, *metropolis.LOG_SCALE_LIMITS)
        self.adaptive = scale is None
        start = metropolis.default_scale(target.dim) if scale is None else scale
        self.adaptation = RobbinsMonro.init(start, len(betas))
        self.report_hot = report_hot  # the record gets the hottest rung's acceptance too

    def run(self, state, settings, adapt: bool, chunks=None) -> MoveRecord:
        scale = self.adaptation.scale
        _, info = self.step(state, scale, settings.metropolis_steps, chunks)
        if adapt and self.adaptive:
            self.adaptation = self.rule.update(self.adaptation, info.acceptance)
            scale = self.adaptation.scale
        fields = {"acceptance": float(info.acceptance[0])}
        if self.report_hot:
            fields["acceptance_hot"] = float(info.acceptance[-1])
        fields["scale"] = float(scale[0])
        counts = dict(lp_evals=info.lp_evals, steps=info.lp_evals, nonfinite=info.nonfinite)
        return MoveRecord(fields, counts, info)

    def points_in_flight(self, lo, hi):
        return self.step.buffers["scratch"][lo:hi]


class EnsembleMove:
    """An ensemble move on complementary halves (`sampler.complement`): ``de``, ``stretch`` or
    ``dime`` (`ENSEMBLE_KERNELS`), at each walker's rung temperature; nothing to adapt."""

    def __init__(self, name: str, target, rung, betas, report_hot: bool = False):
        self.name = name
        self.step = ENSEMBLE_KERNELS[name](target, rung, betas)
        self.report_hot = report_hot

    def run(self, state, settings, adapt: bool, chunks=None) -> MoveRecord:
        _, info = self.step(state, chunks)
        fields = {"acceptance": float(info.acceptance[0])}
        if self.report_hot:
            fields["acceptance_hot"] = float(info.acceptance[-1])
        counts = dict(lp_evals=info.lp_evals, steps=info.lp_evals, nonfinite=info.nonfinite)
        return MoveRecord(fields, counts, info)

    def points_in_flight(self, lo, hi):
        return self.step.buffers["scratch"][lo:hi]


class SwapMove:
    """``swaps_per_walker x walkers`` swap attempts between adjacent rungs (`sampler.tempering`).

    ``adaptive``: during warm-up each of the first ``updates_max`` swap sweeps respaces
    ``betas`` in place (the array every move of the ladder reads; `sampler.ladder.adapt_betas`),
    with ``lag`` and ``tau`` in swap sweeps; then the ladder is frozen, so the rest of the
    warm-up equilibrates the walkers at the final temperatures before anything is recorded."""

    name = "swap"

    def __init__(self, rung, betas, naive: bool = False, adaptive: bool = False, lag: float = 10.0,
                 tau: float = 2.0, updates_max: int = 1_000_000):
        self.step = tempering.build_kernel(rung, betas, naive)
        self.betas = betas
        self.adaptive = adaptive and len(betas) > 2
        self.lag, self.tau = float(lag), float(tau)
        self.updates = 0  # ladder updates so far
        self.updates_max = int(updates_max)

    def run(self, state, settings, adapt: bool, chunks=None) -> MoveRecord:
        _, info = self.step(state, int(round(settings.swaps_per_walker * settings.walkers)))
        if adapt and self.adaptive and self.updates < self.updates_max:
            with np.errstate(invalid="ignore", divide="ignore"):
                pair = info.accepted / info.attempts
            self.betas[:] = ladder.adapt_betas(self.betas, pair, self.updates, self.lag, self.tau)
            self.updates += 1
        fields = dict(swap_acceptance=info.acceptance, ejections=info.ejections)
        counts = dict(swap_attempts=int(info.attempts.sum()), swaps=int(info.accepted.sum()), ejections=info.ejections)
        return MoveRecord(fields, counts, info)

    def points_in_flight(self, lo, hi):  # swaps never call the log density
        return np.empty((0, 0))


class HMCMove:
    """Exact HMC at T=1 (`sampler.hmc`), its step size adapted during warm-up."""

    name = "hmc"

    def __init__(self, target, mass, target_accept: float, step_size: float):
        self.step = hmc.build_kernel(target, mass)
        self.rule = RobbinsMonro(target_accept, *hmc.LOG_STEP_SIZE_LIMITS)
        self.adaptation = RobbinsMonro.init(step_size)

    @property
    def step_size(self) -> float:
        # math.exp, not np.exp: the last bit may differ, and the draws stay as they were
        return math.exp(float(self.adaptation.log_scale[0]))

    def run(self, state, settings, adapt: bool, chunks=None) -> MoveRecord:
        _, info = self.step(state, self.step_size, settings.hmc_steps, chunks)
        if adapt:
            self.adaptation = self.rule.update(self.adaptation, info.acceptance)
        fields = dict(acceptance=info.acceptance, step_size=self.step_size)
        counts = dict(lp_evals=info.lp_evals, grad_evals=info.grad_evals, steps=info.steps,
                      divergences=info.divergences)
        return MoveRecord(fields, counts, info)

    def points_in_flight(self, lo, hi):
        scratch = self.step.buffers.get("scratch")
        return np.empty((0, 0)) if scratch is None else scratch[lo:hi, 0]
