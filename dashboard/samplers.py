"""The samplers of one session: built, updated, switched and swept from its `Controls`.

`Samplers` holds the main sampler and, in the side-by-side mode, exact HMC beside it. Every
method runs on the worker thread (`dashboard.worker`), under the worker's lock; problems
are reported through the worker's ``report(text, pause)`` in one line, never raised.
Only the sampler's public API is used (``Sampler(...)``, ``update``, ``reset``,
``set_stage``, ``sweep`` and its read-only attributes).
"""

from __future__ import annotations

import time

from mdhmc.sampler import Sampler
from mdhmc.sampler.pipeline import SweepStopped
from mdhmc.sampler.faults import DensityError
from mdhmc.sampler.settings import SettingsError

from . import catalog
from .controls import Controls

__all__ = ["Samplers", "error_text", "MAX_RECORDED_VALUES", "HISTORY", "PROBE_WALKERS", "CHUNK_SECONDS"]

MAX_RECORDED_VALUES = 400_000  # cold draws kept per sampler (floats): ~200 sweeps of 1000 x 2
HISTORY = 1500  # sweep records kept per sampler
LONG_SWEEP_WORK = 5_000_000  # walkers x steps x dim above which a diffusion sweep is announced (~1 s+)
#: walkers of the diffusion probe: once the pipeline has left diffusion, a small sub-ensemble
#: drawn from its cold walkers keeps diffusing beside it, so the diffusion sliders still act
#: on what is plotted (the energy traces and the tracked trajectory)
PROBE_WALKERS = 64
PROBE_RESEED = 25  # probe sweeps between restarts from the main sampler's current cold walkers
PROBE_EVERY_S = 0.25  # at most one probe sweep this often: a few trajectories a second show the dynamics
#: wall time per block of walkers: Pause, Reset and a new target wait at most about this long, and
#: a sweep longer than a frame publishes its walkers between blocks (`worker.MID_SWEEP_FRAME_S`)
CHUNK_SECONDS = 0.0125

def _root_cause(exc: BaseException) -> BaseException:
    """A kernel re-raises a user's exception as a SystemError (`sampler.faults.KernelRaised`) with
    the real one as its cause: report the real one."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or (exc.__context__ if isinstance(exc, SystemError) else None)
        if nxt is None:
            break
        exc = nxt
    return exc


def error_text(exc: BaseException, doing: str) -> str:
    """One line: what was being done, and why it failed."""
    root = _root_cause(exc)
    msg = str(root).strip().splitlines()[0] if str(root).strip() else ""
    # these already say what failed (DensityError: "log_density in f.py raised ... at x = [...]")
    if isinstance(root, (SettingsError, DensityError)) or type(root).__name__ in ("TargetError", "PresetError"):
        return f"{doing}: {msg}"
    return f"{doing}: {type(root).__name__}{': ' + msg if msg else ''}"


class Samplers:
    """The main sampler (``main``) and exact HMC beside it (``hmc``, side by side only)."""

    def __init__(self, report, announce):
        self.main: Sampler | None = None
        self.hmc: Sampler | None = None
        self.probe: Sampler | None = None  # the diffusion probe (see PROBE_WALKERS)
        self._probe_sweeps = 0
        self._probe_starts = 0
        self._probe_at = 0.0
        self.sweeping: Sampler | None = None  # the sampler whose sweep is under way
        self.target = None
        self.status = "starting"
        self._report = report  # (text, pause) -> None
        self._announce = announce  # () -> None: publish the status now (before a long wait)

    def all(self) -> list[Sampler]:
        """The samplers that exist, main first (worker thread)."""
        return [s for s in (self.main, self.hmc) if s is not None]

    def drop(self):
        """Forget the samplers (worker thread, or after the thread stopped)."""
        self.main = self.hmc = self.probe = None

    def _new(self, stage: str, settings, **kw) -> Sampler:
        """A sampler of the current target (worker thread)."""
        return Sampler(self.target, settings, stage=stage, max_recorded_values=MAX_RECORDED_VALUES,
                       history_size=HISTORY, chunk_seconds=CHUNK_SECONDS, **kw)

    @property
    def probing(self) -> bool:
        """Whether the diffusion probe runs: the pipeline has left its diffusion phase (worker thread)."""
        m = self.main
        return m is not None and m.stage == "pipeline" and m.phase != "diffusion"

    def _probe_settings(self):
        """The main sampler's settings on a sub-ensemble of its cold walkers, a fresh seed per start."""
        s = self.main.settings
        return s.replace(walkers=max(2, min(PROBE_WALKERS, len(self.main.cold))), rungs=1,
                         seed=(s.seed + 7919 * (1 + self._probe_starts)) % 2**31)

    def _sweep_probe(self, record, should_stop) -> None:
        """One sweep of the diffusion probe, (re)started from the main sampler's cold walkers
        every PROBE_RESEED sweeps (worker thread)."""
        if self.probe is None or self._probe_sweeps >= PROBE_RESEED:
            self._probe_starts += 1
            settings = self._probe_settings()
            self.probe = self._new("diffusion", settings, positions=self.main.cold[:settings.walkers].copy())
            self._probe_sweeps = 0
        self.sweeping = self.probe
        rec = self.probe.sweep(should_stop=should_stop)
        self._probe_sweeps += 1
        record(self.probe, rec)

    def build(self, c: Controls):
        """(Re)build the target and sampler(s) from the controls (worker thread)."""
        self.drop()
        try:
            self.target = catalog.get_target(c.target, c.target_dim)
        except Exception as exc:
            self.target = None
            self._report(error_text(exc, f"target {c.target!r} is unavailable"), True)
            return
        self.status = f"preparing {c.target}"
        try:
            settings = c.settings()
            stage = "pipeline" if c.stage == "side-by-side" else c.stage
            if stage == "hmc" and not self.target.has_gradient:
                self._report(f"target {c.target!r} has no gradient: exact HMC is not available; running the "
                             "pipeline", False)
                stage = "pipeline"
            self.main = self._new(stage, settings)
            if c.stage == "side-by-side" and self.target.has_gradient:
                self.hmc = self._new("hmc", settings)
            self.status = "ready"
        except Exception as exc:
            self.drop()
            self._report(error_text(exc, f"could not start on {c.target}"), True)

    def apply_settings(self, c: Controls, reset: bool) -> bool:
        """The controls' settings into the samplers (worker thread); True if the main sampler
        started afresh (what was read from it is stale)."""
        try:
            settings = c.settings()
            if settings.rungs is not None and settings.rungs > 1 and settings.walkers < 2 * settings.rungs:
                # refused here whatever the stage: a metropolis-stage sampler would accept them and
                # fail only on a later switch to tempering
                raise SettingsError(f"{settings.rungs} temperature rungs need at least {2 * settings.rungs} "
                                    f"walkers, got {settings.walkers}")
        except SettingsError as exc:
            self._report(error_text(exc, "setting refused"), False)
            return False
        fresh = False
        for s in self.all():
            try:
                did_reset = s.update(**{k: v for k, v in settings.to_dict().items() if v != getattr(s.settings, k)})
                if reset and not did_reset:
                    s.reset()
                    did_reset = True
                fresh |= did_reset and s is self.main
            except Exception as exc:
                self._report(error_text(exc, "setting refused"), False)
        if self.probe is not None:
            try:
                want = self._probe_settings()
                self.probe.update(**{k: v for k, v in want.to_dict().items() if v != getattr(self.probe.settings, k)})
            except Exception:
                self.probe = None  # rebuilt from the main sampler on its next sweep
        return fresh

    def apply_stage(self, c: Controls) -> bool:
        """The controls' stage into the sampler(s) (worker thread); True if the main sampler
        started afresh."""
        stage = c.stage
        if stage in ("hmc", "side-by-side") and not self.target.has_gradient:
            self._report(f"target {self.target.name!r} has no gradient: exact HMC is not available", False)
            return False
        try:
            if stage == "side-by-side":
                # a fair race: both start from the same dispersed walkers
                self.main.set_stage("pipeline")
                self.main.reset()
                self.hmc = self._new("hmc", self.main.settings)
                self.probe = None
                return True
            self.hmc = self.probe = None
            self.main.set_stage(stage)
        except Exception as exc:
            self._report(error_text(exc, f"cannot switch to {stage}"), False)
        return False

    def sweep(self, record, should_stop=None) -> bool:
        """One sweep of every sampler, the main one's record to ``record(sampler, rec)``;
        False after an error, or when ``should_stop()`` left the sweep unfinished (asked between
        blocks of walkers: the finished blocks have moved, nothing is counted; worker thread)."""
        for s in self.all():
            try:
                key = catalog.kernel_key(self.target, s.phase)
                if not catalog.is_warm(key):
                    self.status = f"compiling kernels for {self.target.name} ({s.phase}; first use in this server)"
                    self._announce()
                elif s.phase == "diffusion" and s.settings.walkers * s.settings.steps * self.target.dim >= \
                        LONG_SWEEP_WORK:
                    self.status = f"running a diffusion sweep of {s.settings.walkers:,} walkers × {s.settings.steps:,} steps"
                    self._announce()
                self.sweeping = s
                rec = s.sweep(should_stop=should_stop)
                catalog.mark_warm(key)
            except SweepStopped:
                self.status = "running"
                return False
            except Exception as exc:
                self._report(error_text(exc, f"the sampler stopped ({s.phase} sweep)"), True)
                self.status = "paused after an error"
                return False
            if s is self.main:
                record(s, rec)
        if self.probing and time.perf_counter() - self._probe_at >= PROBE_EVERY_S:
            self._probe_at = time.perf_counter()
            try:
                self._sweep_probe(record, should_stop)
            except SweepStopped:
                return False
            except Exception as exc:  # the probe is an extra view: its failure stops only itself
                self.probe = None
                self._report(error_text(exc, "the diffusion probe stopped"), False)
        elif self.probe is not None and not self.probing:
            self.probe = None
        self.status = "running"
        return True
