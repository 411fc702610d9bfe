"""The pipeline and the live driver: dispersed starts -> diffusion -> trim -> tempering.

`Sampler` owns an ensemble and advances it one *sweep* at a time in the current stage:

- ``"diffusion"``: one momentum-diffusion trajectory per walker (`sampler.diffusion`);
- ``"metropolis"``: random-walk Metropolis on every walker at T=1 (`sampler.metropolis`);
- ``"tempering"``: with probability 1/2 Metropolis at each rung's temperature, else swap
  attempts between adjacent rungs (`sampler.tempering`);
- ``"hmc"``: the exact-HMC baseline at T=1 (`sampler.hmc`);
- ``"pipeline"``: ``diffusion_sweeps`` diffusion sweeps, then trim (`sampler.trim`), then
  tempering sweeps; it advances by itself.

In the Metropolis, tempering and HMC phases the first ``warmup`` sweeps adapt (proposal
scale / step size) and are not recorded; later sweeps record the cold ensemble. Settings
may change between sweeps (`Sampler.update`): most take effect on the next sweep; a new
``walkers`` or ``seed`` resets the ensemble. The GIL is released inside every kernel.
"""

from __future__ import annotations

import collections
import time
from typing import Callable

import numpy as np

from . import diffusion, hmc, metropolis, tempering
from .ensemble import EnsembleState, init
from .rng import uniform
from .settings import STAGES, Settings, SettingsError
from .trim import trim

__all__ = ["Sampler", "RESET_KEYS"]

RESET_KEYS = frozenset({"walkers", "seed"})
_REBUILD_KEYS = frozenset({"rungs", "t_hot", "naive_swap", "mass", "metropolis_scale", "target_accept",
                           "hmc_target_accept", "hmc_step_size"})


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
                 positions: np.ndarray | None = None, tracked: int = 0, max_recorded_values: int = 20_000_000):
        self.target = target
        self.settings = settings or Settings()
        if stage not in STAGES:
            raise SettingsError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        self.stage = stage
        self.tracked = tracked
        self.max_recorded_values = int(max_recorded_values)
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
        self.state: EnsembleState = init(self.target, s.walkers, s.seed, positions)
        self._diffusion_step = diffusion.build_kernel(self.target, s.mass, self.tracked)
        self.totals = collections.Counter()
        self.history: collections.deque = collections.deque(maxlen=20_000)
        self.last_tracked = None
        self.last_divergences = np.empty((0, self.target.dim))
        self.wall_s = 0.0
        self.sweep_count = 0
        self._enter_stage(self.stage, keep_counters=False)

    def _enter_stage(self, stage: str, keep_counters: bool = True):
        self.stage = stage
        self.phase = "diffusion" if stage in ("pipeline", "diffusion") else stage
        self.stage_sweep = 0  # sweeps done in the current phase
        self._build_exact_kernels()
        self.draws: collections.deque = collections.deque(maxlen=self._max_recorded_sweeps())
        if not keep_counters:
            self.totals.clear()
        self.trim_info = None

    def _tempered(self) -> bool:
        return self.stage in ("tempering", "pipeline")

    def _build_exact_kernels(self):
        s = self.settings
        n = s.walkers
        rungs = s.rungs if self._tempered() else 1
        if rungs > 1 and n < 2 * rungs:
            raise SettingsError(f"tempering with {rungs} rungs needs at least {2 * rungs} walkers, got {n}")
        temps = s.temperatures() if rungs > 1 else [1.0]
        self.temperatures = np.array(temps)
        self.rung = tempering.rung_assignment(n, rungs)
        betas = 1.0 / self.temperatures
        self._mh_step = metropolis.build_kernel(self.target, self.rung, betas)
        self._mh_adapt = metropolis.Adaptation(rungs, self.target.dim, s.target_accept_for(self.target.dim),
                                               s.metropolis_scale)
        self._swap = tempering.build_swap_kernel(self.rung, betas, s.naive_swap)
        self._hmc_step = None
        if self.stage == "hmc":
            self._hmc_step = hmc.build_kernel(self.target, s.mass, s.hmc_target_accept, s.hmc_step_size)

    def _max_recorded_sweeps(self) -> int:
        cold = max(1, int((self.rung == 0).sum()))
        return max(10, self.max_recorded_values // (cold * self.target.dim))

    def set_stage(self, stage: str):
        """Switch stage live, keeping the walkers where they are (adaptation restarts)."""
        if stage not in STAGES:
            raise SettingsError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        if stage == "hmc" and not self.target.has_gradient:
            raise SettingsError(f"target {self.target.name!r} has no gradient: exact HMC is not available")
        self._enter_stage(stage)

    def update(self, **changes) -> bool:
        """Apply setting changes; returns True if the ensemble was reset.

        Diffusion settings apply from the next sweep; temperature-ladder settings rebuild the
        Metropolis/tempering kernels (walkers stay put, adaptation restarts); ``walkers`` or
        ``seed`` reset the ensemble.
        """
        new = self.settings.replace(**changes)
        changed = {k for k in changes if getattr(new, k) != getattr(self.settings, k)}
        if not changed:
            return False
        self.settings = new
        if changed & RESET_KEYS:
            self.reset()
            return True
        if "mass" in changed:
            self._diffusion_step = diffusion.build_kernel(self.target, new.mass, self.tracked)
        if changed & _REBUILD_KEYS:
            keep_draws = self.draws
            self._build_exact_kernels()
            if len(self.rung) and self.draws.maxlen != self._max_recorded_sweeps():
                keep_draws = collections.deque(keep_draws, maxlen=self._max_recorded_sweeps())
            self.draws = keep_draws
        return False

    # ------------------------------------------------------------------ running
    @property
    def cold(self) -> np.ndarray:
        """Positions of the cold (T=1) walkers."""
        return self.state.positions[self.rung == 0]

    @property
    def recording(self) -> bool:
        return self.phase in ("metropolis", "tempering", "hmc") and self.stage_sweep >= self.settings.warmup

    def sweep(self) -> dict:
        """Advance one sweep of the current phase; return that sweep's info record (a flat dict).

        An exception raised by the target's log density propagates as itself (numba's
        parallel kernels wrap it in a SystemError; the original is unwrapped here).
        """
        try:
            return self._sweep()
        except SystemError as exc:
            cause = exc.__cause__ or exc.__context__
            if cause is not None and not isinstance(cause, SystemError):
                raise cause from None
            raise

    def _sweep(self) -> dict:
        s = self.settings
        t0 = time.perf_counter()
        rec = {"stage": self.stage, "phase": self.phase, "sweep": self.sweep_count}
        adapt = self.stage_sweep < s.warmup
        record = self.recording or (self.phase == "diffusion" and self.stage == "diffusion")
        if self.phase == "diffusion":
            _, info = self._diffusion_step(self.state, diffusion.DiffusionParams.from_settings(s))
            self.last_tracked = info.tracked
            rec.update(mean_U=info.mean_U, mean_K=info.mean_K, mean_H=info.mean_H, mean_herr=info.mean_herr,
                       mean_abs_herr=info.mean_abs_herr, chosen_herr=info.chosen_herr)
            if info.tracked is not None and len(info.tracked.energies):
                e = info.tracked.energies
                rec.update(tracked_U=float(e[:, 0].mean()), tracked_K=float(e[:, 1].mean()),
                           tracked_H=float(e[:, 2].mean()), tracked_herr=float(e[:, 3].mean()))
            self._count(rec, lp_evals=info.lp_evals, grad_evals=info.grad_evals, steps=info.steps,
                        triggers=info.triggers, abandoned=info.abandoned)
        elif self.phase == "metropolis":
            _, info = self._mh_step(self.state, self._mh_adapt, s.metropolis_steps, adapt and self._mh_adapt is not None)
            rec.update(acceptance=float(info.acceptance[0]), scale=float(info.scale[0]))
            self._count(rec, lp_evals=info.lp_evals, steps=info.lp_evals, nonfinite=info.nonfinite)
        elif self.phase == "tempering":
            if uniform(self.state.rng, self.state.walkers) < 0.5:
                _, info = self._mh_step(self.state, self._mh_adapt, s.metropolis_steps, adapt)
                rec.update(move="metropolis", acceptance=float(info.acceptance[0]),
                           acceptance_hot=float(info.acceptance[-1]), scale=float(info.scale[0]))
                self._count(rec, lp_evals=info.lp_evals, steps=info.lp_evals, nonfinite=info.nonfinite)
            else:
                info = self._swap(self.state, int(round(s.swaps_per_walker * s.walkers)))
                rec.update(move="swap", swap_acceptance=info.acceptance, ejections=info.ejections)
                self._count(rec, swap_attempts=int(info.attempts.sum()), swaps=int(info.accepted.sum()),
                            ejections=info.ejections)
        elif self.phase == "hmc":
            _, info = self._hmc_step(self.state, s.hmc_steps, adapt)
            rec.update(acceptance=info.acceptance, step_size=info.step_size)
            if info.divergences:
                self.last_divergences = info.divergent_positions
            self._count(rec, lp_evals=info.lp_evals, grad_evals=info.grad_evals, steps=info.steps,
                        divergences=info.divergences)
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

    def _count(self, rec, **counts):
        for k, v in counts.items():
            self.totals[k] += int(v)
            rec[k] = int(v)

    def _record(self):
        self.draws.append(self.cold.copy())

    def _advance_pipeline(self):
        s = self.settings
        if self.stage == "pipeline" and self.phase == "diffusion" and self.stage_sweep >= s.diffusion_sweeps:
            self.trim_info = trim(self.state, s.trim_sds)
            self.totals["trimmed"] += self.trim_info.replaced
            self.phase = "tempering"
            self.stage_sweep = 0
            self.draws.clear()

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
            "trim": None if self.trim_info is None else self.trim_info._asdict(),
        }

    def walkers_per_rung(self) -> np.ndarray:
        return np.bincount(self.rung, minlength=len(self.temperatures))

