"""The pipeline and the live driver: dispersed starts -> diffusion -> trim -> tempering.

`Sampler` owns an ensemble and advances it one *sweep* at a time in the current phase.
Each phase is a schedule of weighted moves (`sampler.moves.PHASE_MOVES`):

- ``"diffusion"``: one momentum-diffusion trajectory per walker (`sampler.diffusion`);
- ``"metropolis"``: the ``moves`` mix at T=1: random-walk Metropolis (`sampler.metropolis`)
  and/or the ensemble moves (`sampler.moves_de`, `moves_stretch`, `moves_dime`);
- ``"tempering"``: with probability 1/2 the mix at each rung's temperature, else swap
  attempts between adjacent rungs (`sampler.tempering`) on the ladder (`sampler.ladder`);
- ``"hmc"``: the exact-HMC baseline at T=1 (`sampler.hmc`).

The stage says which phases run: ``"diffusion"``, ``"metropolis"``, ``"tempering"`` and
``"hmc"`` stay in their phase; ``"pipeline"`` runs ``diffusion_sweeps`` diffusion sweeps,
then trims (`sampler.trim`), then tempering sweeps; it advances by itself.

In the Metropolis, tempering and HMC phases the first ``warmup`` sweeps adapt (proposal
scale / step size, `sampler.adaptation`) and are not recorded; later sweeps record the
cold ensemble; with ``rungs = auto`` the warm-up also respaces the ladder, which is then
frozen. Settings may change between sweeps (`Sampler.update`): most take effect on the
next sweep; a change of the ladder or the moves clears the recorded draws and runs the
warm-up again; a new ``walkers`` or ``seed`` resets the ensemble. The GIL is released
inside every kernel.
"""

from __future__ import annotations

import collections
import time
import types
from typing import Callable, NamedTuple

import numpy as np

from . import (compile_helper, diffusion, faults, hmc, ladder, metropolis, moves_de, moves_dime, moves_stretch,
               preconditioning, tempering, trim)
from .chunks import Chunks, SweepStopped
from .ensemble import EnsembleState, init
from .moves import (AFFINE_MOVES, DiffusionMove, EnsembleMove, HMCMove, MetropolisMove, Schedule, SwapMove, mix_names,
                    phase_moves, spans_the_space)
from .settings import SPEC, STAGES, Settings, SettingsError

__all__ = ["Sampler", "RESET_KEYS", "SweepStopped", "DensityError"]

DensityError = faults.DensityError

RESET_KEYS = frozenset(s.name for s in SPEC if s.resets)  # a live change starts a new ensemble
# settings baked into the Metropolis, ensemble, swap and HMC moves: a change rebuilds them, clears the
# recorded draws and runs the warm-up again (adaptation included)
_REBUILD_KEYS = frozenset({"rungs", "t_hot", "naive_swap", "mass", "metropolis_scale", "target_accept",
                           "hmc_target_accept", "hmc_step_size", "moves"})


class _Ladder(NamedTuple):
    """What `Sampler._build_exact` builds: the inverse temperatures (the array every move of
    the ladder reads; respaced in place during warm-up when adaptive), each walker's rung, the moves."""

    betas: np.ndarray
    rung: np.ndarray
    moves: dict


class Sampler:
    """A live, steppable ensemble sampler for one target.

    Parameters
    ----------
    target : targets.Target
    settings : Settings
    stage : {"pipeline", "diffusion", "metropolis", "tempering", "hmc"}
    positions : array (walkers, dim), optional
        Starting points; default: uniform over the target's widened bounds.
    tracked : int
        Walker whose diffusion trajectory is recorded for display (walker 0 is cold).
    max_recorded_values : int
        Cap on recorded cold draws (floats), as a ring buffer of whole sweeps.
    keep_sweeps : int, optional
        Keep the last ``keep_sweeps`` recorded sweeps instead (no cap on floats: the caller
        checked the memory, as ``mdhmc run`` does).
    history_size : int
        Per-sweep records kept in `history` (a ring buffer).
    chunk_seconds : float
        Wall time aimed at per block of walkers (see below).
    client : dask.distributed.Client, optional
        Run the diffusion sweeps on this Dask cluster's workers (`sampler.distributed`).

    Responsiveness: a sweep runs its walkers in blocks (`sampler.chunks`; same draws as one
    block), each sized to take about ``chunk_seconds``. Between blocks a pending Ctrl-C is
    raised as ``KeyboardInterrupt`` and ``sweep(should_stop=f)`` asks ``f()``: if it returns
    True, `SweepStopped` is raised. Either way the sweep is left unfinished: the walkers of
    finished blocks have moved, nothing of that sweep is counted or recorded, and the sampler
    can go on sweeping (a caller such as the dashboard keeps a slow target responsive so).

    Faults: a log density (or gradient) that raises stops the sweep with `DensityError`
    (function, the user's exception, the point); see `sampler.faults`.

    Public state: ``state`` (the `EnsembleState`), ``settings``, ``target``, ``stage``,
    ``phase``, ``stage_sweep`` (sweeps in the current phase), ``sweep_count``, ``totals``
    (counters), ``history`` (per-sweep records), ``draws`` (recorded cold ensembles),
    ``last_tracked`` (the tracked walker's last trajectory), ``last_divergences``,
    ``rung``, ``temperatures``, ``trim_info``, ``wall_s``; ``moves`` and ``schedule``;
    `pair_acceptance` (swap acceptance per adjacent pair of rungs).

    Examples
    --------
    >>> from mdhmc import targets
    >>> from mdhmc.sampler import Sampler, Settings
    >>> s = Sampler(targets.get("scorpio"), Settings(walkers=200, diffusion_sweeps=5, sweeps=50, warmup=20))
    >>> result = s.run()
    >>> result["draws"].shape[1:]
    (100, 2)
    """

    def __init__(self, target, settings: Settings | None = None, stage: str = "pipeline",
                 positions: np.ndarray | None = None, tracked: int = 0, max_recorded_values: int = 20_000_000,
                 history_size: int = 20_000, chunk_seconds: float = 0.2, keep_sweeps: int | None = None,
                 client=None):
        self.target = target
        self.client = client
        self.settings = settings or Settings()
        _check_stage(stage)
        self.stage = stage
        self.tracked = tracked
        self.max_recorded_values = int(max_recorded_values)
        self.keep_sweeps = None if keep_sweeps is None else max(1, int(keep_sweeps))
        self.history_size = int(history_size)
        self.chunks = Chunks(chunk_seconds)
        self._move = None  # the move of the sweep under way (to locate a fault)
        self._start_positions = positions
        self.reset()

    # ------------------------------------------------------------------ set-up
    def reset(self, positions: np.ndarray | None = None):
        """New ensemble from the current settings (seed, walkers); counters cleared."""
        s = self.settings
        if positions is None:
            positions = self._start_positions
        if positions is not None and len(positions) != s.walkers:
            positions = None
        # build first: a refused setting leaves the sampler as it was
        diffusion_move = self._new_diffusion_move(s.mass)
        ladder = self._build_exact(s, self.stage)
        self.state: EnsembleState = init(self.target, s.walkers, s.seed, positions)
        self._diffusion_move = diffusion_move
        self.totals = collections.Counter()
        self.history: collections.deque = collections.deque(maxlen=self.history_size)
        self.last_tracked = None
        self.last_divergences = np.empty((0, self.target.dim))
        self.wall_s = 0.0
        self.sweep_count = 0
        self._enter_stage(self.stage, ladder, keep_counters=False)
        compile_helper.share(self.kernels())  # with an empty numba cache: on two cores

    def kernels(self) -> list:
        """The compiled kernels this sampler will call, the first to compile (the largest of those
        the first sweep needs) first, then in the order of their first call (`sampler.compile_helper`);
        of a walker kernel, the form it would run now (`sampler.jit.WalkerKernel.current`)."""
        s, dim = self.settings, self.target.dim
        out = []
        if self.stage in ("pipeline", "diffusion") and self.client is None:
            sweep = diffusion.diffusion_sweep.current()
            search = []
            if preconditioning.search_enabled(s):
                search = [(preconditioning._newton_walkers_probed if self.target.grad_log_density is not None
                           else preconditioning._newton_walkers).current()]
            # this process keeps the largest: the 2-D path (~8 s with an empty cache), else the sweep
            out += [diffusion._trajectory_2d, sweep] if dim == 2 else [sweep]
            if s.precondition == "curvature":
                out.append(preconditioning._diag_curvature)
            out += search
        if self.stage == "pipeline":
            out.append(trim._refill)
        walker_kernels = {"metropolis": metropolis.metropolis_sweep, "hmc": hmc.hmc_sweep, "de": moves_de.de_sweep,
                          "stretch": moves_stretch.stretch_sweep, "dime": moves_dime.dime_sweep}
        scheduled = {m.name for schedule in self._schedules.values() for m in schedule.moves}
        for name in self._exact_moves:
            if name == "swap":
                if name in scheduled and len(self._betas) > 1:
                    out.append(tempering.swap_sweep)
            elif name in scheduled:
                out.append(walker_kernels[name].current())  # asks the disk cache only for the moves that run
        return out

    def _new_diffusion_move(self, mass) -> DiffusionMove:
        move = DiffusionMove(self.target, mass, self.tracked)
        if self.client is not None:  # trajectories run on the Dask workers
            from .distributed import distribute

            move = distribute(move, self.client, self.target, mass, self.tracked)
        return move

    def _enter_stage(self, stage: str, ladder: _Ladder, keep_counters: bool = True):
        self.stage = stage
        self.phase = "diffusion" if stage in ("pipeline", "diffusion") else stage
        self.stage_sweep = 0  # sweeps done in the current phase
        self._install(ladder)
        self.draws: collections.deque = collections.deque(maxlen=self._max_recorded_sweeps())
        if not keep_counters:
            self.totals.clear()
        self.trim_info = None
        self._advance_pipeline()  # diffusion_sweeps = 0: trim and temper from the first sweep

    def _build_exact(self, s: Settings, stage: str) -> _Ladder:
        """The temperature ladder and the exact moves (the ``moves`` mix, swaps, and in stage hmc
        HMC) for ``s``. ``rungs = auto``: `ladder.auto_rungs` rungs, half the walkers cold, the
        spacing adapted during warm-up (`sampler.ladder`)."""
        n, dim = s.walkers, self.target.dim
        tempered = stage in ("tempering", "pipeline")
        rungs = s.rung_count(dim) if tempered else 1
        if rungs > 1 and n < 2 * rungs:
            raise SettingsError(f"tempering with {rungs} rungs needs at least {2 * rungs} walkers, got {n}")
        auto = s.rungs is None and rungs > 1
        betas = 1.0 / np.array(s.temperatures(dim) if rungs > 1 else [1.0])
        rung = ladder.rung_assignment(n, rungs, 0.5 if auto else None)
        moves = {}
        # an affine-only mix also gets rwm, scheduled only where the walkers do not span the space
        for name in mix_names(s.moves, spans=False):
            if name == "metropolis":
                moves[name] = MetropolisMove(self.target, rung, betas, s.target_accept_for(dim), s.metropolis_scale,
                                             report_hot=tempered)
            else:
                moves[name] = EnsembleMove(name, self.target, rung, betas, report_hot=tempered)
        # the ladder adapts over the swap sweeps of the first half of the warm-up (swaps take half the
        # sweeps), its steps decaying over that stretch; the second half equilibrates at the frozen ladder
        swap_sweeps = max(1, s.warmup // 4)
        moves["swap"] = SwapMove(rung, betas, s.naive_swap, adaptive=auto, lag=max(1.0, swap_sweeps / 5), tau=2.0,
                                 updates_max=swap_sweeps)
        if stage == "hmc":
            moves["hmc"] = HMCMove(self.target, s.mass, s.hmc_target_accept, s.hmc_step_size)
        return _Ladder(betas, rung, moves)

    def _install(self, ladder: _Ladder):
        self._betas = ladder.betas
        self.rung = ladder.rung
        self._exact_moves = ladder.moves
        self._schedule_moves()
        self._reset_pair_counts()
        self._ladder_adapting = False

    def _reset_pair_counts(self):
        pairs = max(1, len(self._betas) - 1)
        self._pair_attempts = np.zeros(pairs, dtype=np.int64)
        self._pair_accepted = np.zeros(pairs, dtype=np.int64)

    def _schedule_moves(self):
        """The phases' schedules; an affine-only mix gains random-walk Metropolis if the walkers
        do not span the space now (`sampler.moves.spans_the_space`: the exact phases cannot change
        that, so it is decided when one starts or its moves are rebuilt; in the diffusion and HMC
        phases those schedules are not used, and the pipeline decides again when it leaves diffusion)."""
        moves = self.moves
        mix = self.settings.moves
        spans = (self.phase in ("diffusion", "hmc") or not set(mix_names(mix)) <= AFFINE_MOVES
                 or spans_the_space(self.state.positions))
        self._schedules = {phase: Schedule([(moves[name], weight) for name, weight in pairs])
                           for phase, pairs in phase_moves(mix, spans).items()
                           if all(name in moves for name, _ in pairs)}

    @property
    def temperatures(self) -> np.ndarray:
        """Temperature of each rung (the ladder's current spacing)."""
        return 1.0 / self._betas

    def pair_acceptance(self) -> np.ndarray:
        """Swap acceptance per adjacent pair of rungs, cumulative since the current ladder was
        built or (rungs = auto) frozen at the end of the warm-up; NaN where nothing was attempted."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._pair_attempts > 0, self._pair_accepted / np.maximum(self._pair_attempts, 1), np.nan)

    def _max_recorded_sweeps(self) -> int:
        if self.keep_sweeps is not None:
            return self.keep_sweeps
        cold = max(1, int((self.rung == 0).sum()))
        return max(10, self.max_recorded_values // (cold * self.target.dim))

    @property
    def moves(self) -> types.MappingProxyType:
        """The current stage's moves by name (``"diffusion"``, ``"metropolis"``, ``"swap"``, and
        ``"hmc"`` in stage hmc); ``moves[name].run(state, settings, adapt)`` runs one directly."""
        return types.MappingProxyType({"diffusion": self._diffusion_move, **self._exact_moves})

    @property
    def schedule(self) -> Schedule:
        """The current phase's weighted moves."""
        return self._schedules[self.phase]

    def set_stage(self, stage: str):
        """Switch stage live, keeping the walkers where they are (adaptation restarts)."""
        _check_stage(stage)
        if stage == "hmc" and not self.target.has_gradient:
            raise SettingsError(f"target {self.target.name!r} has no gradient: exact HMC is not available")
        self._enter_stage(stage, self._build_exact(self.settings, stage))

    def update(self, **changes) -> bool:
        """Apply setting changes; returns True if the ensemble was reset.

        Diffusion settings apply from the next sweep; temperature-ladder settings rebuild the
        Metropolis/tempering kernels (walkers stay put, adaptation restarts); ``walkers`` or
        ``seed`` reset the ensemble. A refused change (`SettingsError`) changes nothing.
        """
        new = self.settings.replace(**changes)
        changed = {k for k in changes if getattr(new, k) != getattr(self.settings, k)}
        if not changed:
            return False
        if changed & RESET_KEYS:
            old, self.settings = self.settings, new
            try:
                self.reset()
            except Exception:
                self.settings = old
                raise
            return True
        diffusion_move = self._new_diffusion_move(new.mass) if "mass" in changed else None
        exact = self._build_exact(new, self.stage) if changed & _REBUILD_KEYS else None
        self.settings = new
        if diffusion_move is not None:
            self._diffusion_move = diffusion_move
            self._schedule_moves()
        if exact is not None:
            self._restart_exact(exact)
        return False

    def _restart_exact(self, exact: _Ladder):
        """Install rebuilt exact moves: walkers stay where they are, but the recorded draws are
        cleared and an exact phase runs its warm-up again (adaptation included), so no draw of
        a walker that has just changed rung or move is recorded before it has re-equilibrated."""
        self._install(exact)
        self.draws = collections.deque(maxlen=self._max_recorded_sweeps())
        if self.phase != "diffusion":
            self.stage_sweep = 0

    # ------------------------------------------------------------------ running
    @property
    def cold(self) -> np.ndarray:
        """Positions of the cold (T=1) walkers."""
        return self.state.positions[self.rung == 0]

    @property
    def recording(self) -> bool:
        return self.phase in ("metropolis", "tempering", "hmc") and self.stage_sweep >= self.settings.warmup

    def sweep(self, should_stop: Callable[[], bool] | None = None) -> dict:
        """Advance one sweep of the current phase; return that sweep's info record (a flat dict).

        ``should_stop``: asked between blocks of walkers; True raises `SweepStopped` (see the
        class docstring). An exception raised by the target's log density or gradient becomes
        `DensityError`, which names the function, the exception and the point.
        """
        self.chunks.should_stop = should_stop
        try:
            return self._sweep()
        except (SweepStopped, KeyboardInterrupt):
            raise
        except Exception as exc:
            error = self._density_error(exc)
            if error is exc:
                raise
            raise error from None
        finally:
            self.chunks.should_stop = None
            self._move = None

    def _density_error(self, exc: Exception) -> Exception:
        """`DensityError` if the target's function raised ``exc``, else ``exc`` itself.

        The kernels re-raise an exception from their run wrapped in `faults.KernelRaised` (a
        SystemError), which tells it from an error of the sampler's own code.
        """
        error = faults.unwrap(exc)
        if error is exc:
            return exc
        points = np.empty((0, self.target.dim))
        if self._move is not None:
            lo, hi = self.chunks.current
            points = np.concatenate([self._move.points_in_flight(lo, hi).reshape(-1, self.target.dim),
                                     self.state.positions[lo:hi]])
        return faults.locate(self.target, error, points)

    def _sweep(self) -> dict:
        s = self.settings
        t0 = time.perf_counter()
        rec = {"stage": self.stage, "phase": self.phase, "sweep": self.sweep_count}
        # the diffusion phase warms up its own way (preconditioner, step size: issue 10)
        adapt = self.stage_sweep < (s.diffusion_warmup if self.phase == "diffusion" else s.warmup)
        record = self.recording or (self.phase == "diffusion" and self.stage == "diffusion")
        schedule = self.schedule
        move = schedule.choose(self.state)
        if len(schedule.moves) > 1:
            rec["move"] = move.name
        self._move = move
        out = move.run(self.state, s, adapt, self.chunks)
        rec.update(out.fields)
        self._count(rec, **out.counts)
        if self.phase == "tempering" and len(self._betas) > 1:
            rec["pair_acceptance"] = self._count_pairs(out.info, adapt)
        if isinstance(out.info, diffusion.DiffusionInfo):
            self.last_tracked = out.info.tracked
        elif isinstance(out.info, hmc.HMCInfo) and out.info.divergences:
            self.last_divergences = out.info.divergent_positions
        self.stage_sweep += 1
        self.sweep_count += 1
        if record:
            self._record()
        rec["recording"] = record
        self._advance_pipeline()
        dt = time.perf_counter() - t0
        self.wall_s += dt
        rec["wall_s"] = dt
        rec["mean_lp_cold"] = float(self.state.log_density[self.rung == 0].mean())
        self.history.append(rec)
        return rec

    def _count_pairs(self, info, adapt: bool) -> list:
        """This sweep's swap acceptance per adjacent pair (NaN where none was attempted), added
        to the cumulative counts; an adaptive ladder's counts restart when it freezes."""
        pairs = len(self._betas) - 1
        if not isinstance(info, tempering.SwapInfo):
            return [float("nan")] * pairs
        if not adapt and self._exact_moves["swap"].adaptive and self._ladder_adapting:
            self._reset_pair_counts()
        self._ladder_adapting = adapt
        self._pair_attempts += info.attempts[:pairs]
        self._pair_accepted += info.accepted[:pairs]
        return [float(a) / t if t else float("nan") for a, t in zip(info.accepted[:pairs], info.attempts[:pairs])]

    def _count(self, rec, **counts):
        for k, v in counts.items():
            self.totals[k] += int(v)
            rec[k] = int(v)

    def _record(self):
        cold = self.cold.copy()
        if len(self.draws) and self.draws[-1].shape != cold.shape:
            self.draws.clear()  # never mix draws of unequal width (the ladder changed)
        self.draws.append(cold)

    def _advance_pipeline(self):
        s = self.settings
        if self.stage == "pipeline" and self.phase == "diffusion" and self.stage_sweep >= s.diffusion_sweeps:
            _, self.trim_info = trim.build_kernel(s.trim_sds, s.trim_rule)(self.state)
            self.totals["trimmed"] += self.trim_info.replaced
            self.phase = "tempering"
            self.stage_sweep = 0
            self.draws.clear()
            self._schedule_moves()  # the walkers the diffusion left decide whether rwm joins the mix

    def total_sweeps(self) -> int:
        """Sweeps a headless `run` does for the current stage."""
        s = self.settings
        if self.stage == "diffusion":
            return s.diffusion_sweeps
        if self.stage == "pipeline":
            return s.diffusion_sweeps + s.sweeps
        return s.sweeps

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict:
        """Run the current stage to completion (`total_sweeps`) and return `result`."""
        n = self.total_sweeps()
        for k in range(n):
            self.sweep()
            if progress is not None:
                progress(k + 1, n)
        return self.result()

    def result(self) -> dict:
        """Final cold ensemble, recorded draws ``(draws, cold walkers, dim)`` and totals."""
        draws = np.array(self.draws) if len(self.draws) else np.empty((0, int((self.rung == 0).sum()), self.target.dim))
        swaps = self.totals.get("swap_attempts", 0)
        acc = [h["acceptance"] for h in self.history if "acceptance" in h and h.get("recording")]
        return {
            "final": self.cold.copy(),
            "draws": draws,
            "lp": self.state.log_density[self.rung == 0].copy(),
            "acceptance": float(np.mean(acc)) if acc else float("nan"),
            "swap_acceptance": self.totals.get("swaps", 0) / swaps if swaps else float("nan"),
            "totals": dict(self.totals),
            "wall_s": self.wall_s,
            "temperatures": self.temperatures.copy(),
            "pair_acceptance": self.pair_acceptance(),
            "trim": None if self.trim_info is None else self.trim_info._asdict(),
        }

    def walkers_per_rung(self) -> np.ndarray:
        return np.bincount(self.rung, minlength=len(self.temperatures))


def _check_stage(stage: str):
    if stage not in STAGES:
        raise SettingsError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
