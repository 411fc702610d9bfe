"""Reading a `Sampler` into frame parts (`dashboard.frames`), through its public attributes.

Everything here runs on the worker thread, under the worker's lock (the sampler is not
sweeping meanwhile). The buffers (`Traces`) and the diagnostics' cadence (`Diagnostics`)
belong to one worker.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
import time
import warnings

import numpy as np

from mdhmc.sampler import Sampler
from mdhmc.sampler import diagnostics as diag

from . import catalog
from .frames import (QQ, Energy, EnergyMeans, Heavy, Layout, Points, Rungs, SamplerStats, Stats, Strip, Swaps,
                     Trajectory)

__all__ = ["make_layout", "make_rungs", "walkers", "divergences", "trajectory", "Traces", "Diagnostics"]

# ArviZ announces its coming refactor on first use: a note for developers, not for the page's log
warnings.filterwarnings("ignore", category=FutureWarning, module=r"arviz(\.|$)")

ENERGY_WINDOW = 1500  # integration steps of the tracked walker kept for the energy traces
TRAJ_POINTS = 600  # at most this many trajectory points are drawn
SWAP_WINDOW = 400  # swap sweeps kept for the temperature view
QQ_PROBS = np.linspace(0.005, 0.995, 100)
STATS_EVERY_S = 0.5  # Q-Q, mass, temperatures, strip (each such frame costs the browser a re-layout)
HEAVY_EVERY_S = 1.0  # ESS / R-hat and sliced W1 (each once per second, in turn)
RECENT_SWEEPS = 60  # recorded sweeps used for Q-Q, mass, ESS, W1
W1_POOL = 1500  # points of the pool in the live sliced W1
DIAG_SHARE = 0.1  # of the server's cores, at most, for all sessions' diagnostics together


def make_layout(t, coords: tuple[int, int], version: int, side_by_side: bool) -> Layout:
    """Target, coordinates and density of the plots (worker thread)."""
    i, j = coords
    names = catalog.coord_names(t)
    dens = catalog.density_image(t, i, j) if t.dim >= 2 else {"image": None, "note": "1-D target"}
    (x0, x1), (y0, y1) = catalog.plot_box(t, i, j) if t.dim >= 2 else ((-5, 5), (-5, 5))
    components = ()
    if t.is_mixture:
        components = tuple(t.component_names or (f"component {k + 1}" for k in range(len(t.component_weights))))
    return Layout(
        version=version, target=t.name, dim=t.dim, coords=(i, j), labels=(names[i], names[j] if t.dim > 1 else ""),
        x_range=(x0, x1), y_range=(y0, y1), density=dens, side_by_side=side_by_side,
        has_exact=catalog.exact_draws(t) is not None, is_mixture=t.is_mixture, components=components,
        weights=np.asarray(t.component_weights, dtype=float).copy() if t.is_mixture else None)


def rungs_key(s: Sampler) -> tuple:
    """What the rung part depends on: walkers, the ladder, the swap rule, the stage (worker thread)."""
    return s.state.walkers, tuple(np.round(s.temperatures, 12)), s.settings.naive_swap, s.stage, s.phase


def make_rungs(s: Sampler, version: int) -> Rungs:
    """Rung of each walker and the ladder (worker thread)."""
    return Rungs(version=version, walkers=s.state.walkers, rung=s.rung.astype(np.int32).copy(),
                 temperatures=s.temperatures.copy(), naive_swap=s.settings.naive_swap,
                 tempered=len(s.temperatures) > 1)


def _points(x: np.ndarray, i: int, j: int) -> Points:
    return Points(x[:, i].astype(np.float32),
                  x[:, j].astype(np.float32) if x.shape[1] > 1 else np.zeros(len(x), np.float32))


def walkers(s: Sampler, i: int, j: int) -> Points:
    """Walker positions in coordinates i, j (worker thread)."""
    return _points(s.state.positions, i, j)


def divergences(s: Sampler, i: int, j: int) -> Points:
    """Where the last HMC sweep diverged, nothing outside the HMC phase (worker thread)."""
    d = s.last_divergences
    if d is None or not len(d) or s.phase != "hmc":
        return Points()
    return _points(d, i, j)


def trajectory(s: Sampler, i: int, j: int) -> Trajectory | None:
    """The tracked walker's last diffusion trajectory, thinned for drawing (worker thread)."""
    tr = s.last_tracked
    if tr is None or not len(tr.positions) or s.phase != "diffusion":
        return None
    pos, lw = tr.positions, tr.log_weights
    keep = np.arange(len(pos))
    if len(pos) > TRAJ_POINTS:
        keep = np.unique(np.concatenate([np.linspace(0, len(pos) - 1, TRAJ_POINTS).round().astype(int),
                                         [tr.chosen] if tr.chosen >= 0 else []]).astype(int))
    w = np.exp(lw - np.max(lw)) if np.isfinite(np.max(lw)) else np.zeros_like(lw)
    thin = max(1, len(pos) // 2000)
    triggers = None
    trig = getattr(tr, "triggered", None)  # per-point flags, where the sampler provides them
    if trig is not None:
        trig = np.asarray(trig, dtype=bool)
        if trig.shape == (len(pos),) and trig.any():
            triggers = _points(pos[trig], i, j)
    return Trajectory(
        x=pos[keep, i].astype(np.float32), y=pos[keep, j].astype(np.float32),
        size=(3.0 + 15.0 * np.sqrt(w[keep])).astype(np.float32), w=w[keep].astype(np.float32),
        line_x=pos[::thin, i].astype(np.float32), line_y=pos[::thin, j].astype(np.float32),
        start=(float(pos[0, i]), float(pos[0, j])),
        chosen=(float(pos[tr.chosen, i]), float(pos[tr.chosen, j])) if 0 <= tr.chosen < len(pos) else None,
        triggers=triggers)


COUNTERS = ("triggers", "divergences", "abandoned", "nonfinite", "ejections")
#: settings each drawn trajectory was made with: the energy panel's data say which slider made them
TRAJ_SETTINGS = ("step_size", "delta", "viscosity_gain")


class Segment:
    """The main sampler's sweeps since the stage or the pipeline's phase last changed: the
    strip's counters and rates belong to it, never to an earlier stage (worker thread)."""

    def __init__(self, start: int | None = None):
        self.key = None
        self.start = start  # first sweep of the segment (None: the next recorded sweep)
        self.counts = collections.Counter()

    def add(self, rec: dict):
        key = (rec.get("stage"), rec.get("phase"))
        if key != self.key:
            if self.key is not None or self.start is None:
                self.start = rec.get("sweep", 0)
            self.key = key
            self.counts = collections.Counter()
        for k in COUNTERS:
            self.counts[k] += int(rec.get(k, 0))


class Traces:
    """Rolling buffers of one worker: the energies of the tracked walker of the diffusing
    sampler (the main one, or the diffusion probe beside the pipeline's later phases), the
    swap sweeps (tempering) and the main sampler's current `Segment`."""

    def __init__(self):
        self.energy_version = 0
        self.traj_version = 0
        self.clear()

    def clear(self, start_sweep: int | None = None):
        self._energy = collections.deque(maxlen=64)  # (x, energies (L, 4)) per trajectory
        self._means = collections.deque(maxlen=64)  # (x0, x1, U, K, H, herr, *TRAJ_SETTINGS)
        self._clock = 0
        self._swaps = collections.deque(maxlen=SWAP_WINDOW)  # (sweep, acceptance, ejections)
        self._cache = None
        self.segment = Segment(start_sweep)
        self.energy_version += 1
        self.traj_version += 1
        self.cleared_at = self.traj_version  # the version of an empty trace: sent at once

    def add(self, s: Sampler, rec: dict, main: bool = True):
        """Record one sweep of ``s`` (its record ``rec``; ``main``: the main sampler, not the
        probe; worker thread)."""
        if main:
            self.segment.add(rec)
        tr = s.last_tracked
        if rec.get("phase") == "diffusion" and tr is not None and len(tr.energies):
            e = tr.energies
            n_pts = len(e)
            if n_pts > TRAJ_POINTS:
                idx = np.unique(np.linspace(0, n_pts - 1, TRAJ_POINTS).round().astype(int))
                e, xs = e[idx], self._clock + idx
            else:
                xs = self._clock + np.arange(n_pts)
            self._energy.append((xs.astype(np.float64), e.astype(np.float64)))
            self._means.append((self._clock, self._clock + n_pts - 1, rec.get("mean_U", np.nan),
                                rec.get("mean_K", np.nan), rec.get("mean_H", np.nan), rec.get("mean_herr", np.nan),
                                *(float(getattr(s.settings, k)) for k in TRAJ_SETTINGS)))
            self._clock += n_pts + 1
            while len(self._energy) > 1 and self._clock - self._energy[0][0][0] > ENERGY_WINDOW:
                self._energy.popleft()
            while self._means and self._means[0][0] < self._energy[0][0][0]:
                self._means.popleft()
            self.energy_version += 1
            self.traj_version += 1
        if main and rec.get("move") == "swap":
            self._swaps.append((rec["sweep"], rec.get("swap_acceptance", np.nan), rec.get("ejections", 0)))

    def energy(self, delta: float) -> Energy:
        """The energy part of a frame, rebuilt only after new trajectories (worker thread)."""
        if self._cache is None or self._cache.version != self.energy_version:
            self._cache = self._build_energy(delta)
        return self._cache

    def _build_energy(self, delta: float) -> Energy:
        if not self._energy:
            return Energy(version=self.energy_version)
        nan_x, nan_e = np.array([np.nan]), np.full((1, 4), np.nan)  # a gap between trajectories
        x = np.concatenate([part for xs, _ in self._energy for part in (xs, nan_x)])
        e = np.concatenate([part for _, es in self._energy for part in (es, nan_e)])
        m = np.array(self._means, dtype=float).reshape(-1, 6 + len(TRAJ_SETTINGS))
        return Energy(version=self.energy_version, step=x, U=e[:, 0], K=e[:, 1], H=e[:, 2], herr=e[:, 3],
                      means=EnergyMeans(*(m[:, k] for k in range(6 + len(TRAJ_SETTINGS)))), delta=float(delta))

    def swaps(self) -> Swaps:
        """The recent swap sweeps (worker thread)."""
        sw = np.array(self._swaps, dtype=float).reshape(-1, 3)
        return Swaps(sw[:, 0], sw[:, 1], sw[:, 2])


def _pool(s: Sampler) -> tuple[np.ndarray, str]:
    if len(s.draws):
        recent = list(itertools.islice(reversed(s.draws), RECENT_SWEEPS))[::-1]
        return diag.thin_pool(np.asarray(recent), 4000), f"cold draws, last {len(recent)} sweeps"
    return s.cold.copy(), "current cold walkers"


def _qq(pool: np.ndarray, ref: diag.ExactReference | None, i: int, j: int) -> tuple[QQ, QQ] | None:
    if ref is None or not len(pool):
        return None
    out = []
    for c in (i, j):
        a = pool[:, c]
        a = np.sort(a[np.isfinite(a)])  # once, for the quantiles and the KS statistic
        if not len(a):
            return None
        out.append(QQ(exact=ref.quantiles(c, QQ_PROBS), sample=diag.sorted_quantiles(a, QQ_PROBS), ks=ref.ks(a, c)))
    return out[0], out[1]


def _strip(s: Sampler, segment: Segment | None = None) -> Strip:
    """The strip of ``s``: rates and acceptance from its sweeps in the current stage and phase
    (``segment``: since it began), counters of that segment; NaN / None where a value is not
    defined in this phase (the strip shows a dash and says why)."""
    start = segment.start if segment is not None and segment.start is not None else 0
    hist = [h for h in itertools.islice(reversed(s.history), 200)
            if h.get("stage") == s.stage and h.get("phase") == s.phase and h.get("sweep", 0) >= start]
    wall = steps = evals = 0.0
    n_recent = 0
    for h in hist:
        wall += h.get("wall_s", 0.0)
        steps += h.get("steps", 0)
        evals += h.get("lp_evals", 0)
        n_recent += 1
        if wall > 2.0:
            break
    acc = [h["acceptance"] for h in hist[:30] if "acceptance" in h]
    sw = [(h.get("swaps", 0), h.get("swap_attempts", 0)) for h in hist[:60] if h.get("move") == "swap"]
    sw_att = sum(a for _, a in sw)
    if segment is not None:
        counts = segment.counts if segment.key == (s.stage, s.phase) else collections.Counter()
    else:
        counts = s.totals
    phase = s.phase
    n = {k: int(counts.get(k, 0)) for k in COUNTERS}
    trimmed = s.trim_info.replaced if (s.stage == "pipeline" and phase != "diffusion" and s.trim_info is not None) \
        else None
    return Strip(
        stage=s.stage, phase=phase, sweep=s.sweep_count, stage_sweep=s.stage_sweep, recording=bool(s.recording),
        warmup=s.settings.warmup, steps_per_s=steps / wall if wall > 0 else np.nan,
        evals_per_s=evals / wall if wall > 0 else np.nan, sweeps_per_s=n_recent / wall if wall > 0 else np.nan,
        acceptance=float(np.mean(acc)) if acc else np.nan,
        swap_acceptance=sum(a for a, _ in sw) / sw_att if sw_att else np.nan,
        triggers=n["triggers"] if phase == "diffusion" else None,
        divergences=n["divergences"] if phase == "hmc" else None,
        abandoned=n["abandoned"], nonfinite=n["nonfinite"],
        ejections=n["ejections"] if phase == "tempering" else None, trimmed=trimmed,
        rungs=len(s.temperatures), has_exact=True)


def _heavy(s: Sampler, pool: np.ndarray, ref: diag.ExactReference | None, i: int, j: int, part: str,
           prev: Heavy) -> Heavy:
    """ESS / R-hat (``part="ess"``) or sliced W1 (``part="w1"``): one part per call, so no
    single step holds the worker (or the GIL) for long."""
    ess, rhat, w1 = prev.ess, prev.rhat, prev.w1
    if part == "ess":
        ess = rhat = np.nan
        if len(s.draws) >= 4:
            recent = np.asarray(list(itertools.islice(reversed(s.draws), 100))[::-1])
            if recent.shape[1] > 500:
                recent = recent[:, :: int(math.ceil(recent.shape[1] / 500))]
            try:
                e, r = diag.ess_rhat(recent[:, :, sorted({i, j})])
                ess = float(np.nanmin(e)) if np.isfinite(e).any() else np.nan
                rhat = float(np.nanmax(r)) if np.isfinite(r).any() else np.nan
            except Exception:
                pass
    if part == "w1" and ref is not None and len(pool) >= 2:
        try:
            w1 = ref.sliced_w1(pool[:: -(-len(pool) // W1_POOL)])  # at most W1_POOL, spread over the pool
        except Exception:
            pass
    return Heavy(ess, rhat, w1)


class Diagnostics:
    """When to refresh the diagnostics, and the last ones: light ones every STATS_EVERY_S,
    ESS/R-hat and W1 in turn every HEAVY_EVERY_S / 2 -- or less often in a crowded server.

    ``crowd()`` is the number of sessions sharing ``cores`` cores; the diagnostics of all of
    them together take at most ``DIAG_SHARE`` of those cores: a session waits at least its
    last refresh's CPU time x crowd / (cores x DIAG_SHARE) between refreshes. Alone that
    never binds (a refresh costs a few ms); twenty sessions on two cores refresh less often,
    rather than spending the sweeps' and the frames' time on Q-Q plots."""

    def __init__(self, crowd=lambda: 1, cores: int = 1):
        self.version = 0
        self._crowd, self._cores = crowd, max(1, int(cores))
        self.cost_s = 0.0  # CPU seconds of the last refresh (its thread's)
        self.clear()

    def clear(self):
        self.last: Stats | None = None
        self._heavy = [Heavy(), Heavy()]
        self._t_light = self._t_heavy = 0.0
        self._turn = "w1"

    def interval_s(self) -> float:
        """Seconds between two refreshes now."""
        return max(STATS_EVERY_S, self.cost_s * self._crowd() / (self._cores * DIAG_SHARE))

    def due(self) -> bool:
        """Whether the light diagnostics are due (worker thread)."""
        return self.last is None or time.perf_counter() - self._t_light >= self.interval_s()

    def refresh(self, samplers: list[Sampler], t, coords: tuple[int, int], swaps: Swaps,
                force: bool = False, heavy: bool = True, segment: Segment | None = None) -> Stats:
        """New diagnostics of ``samplers`` (main, then exact HMC beside it; worker thread)."""
        now, cpu0 = time.perf_counter(), time.thread_time()
        self._t_light = now
        parts: tuple = ()
        if heavy and (force or now - self._t_heavy >= HEAVY_EVERY_S / 2):
            self._t_heavy = now
            self._turn = "w1" if self._turn == "ess" else "ess"
            parts = ("ess", "w1") if force else (self._turn,)
        i, j = coords
        ref = catalog.exact_reference(t)
        per = []
        for k, s in enumerate(samplers):
            pool, label = _pool(s)
            mass = None
            if t.is_mixture and len(pool):
                try:
                    mass = diag.mass_fractions(t, pool)
                except Exception:
                    mass = None
            for part in parts:
                self._heavy[k] = _heavy(s, pool, ref, i, j, part, self._heavy[k])
            strip = _strip(s, segment if k == 0 else None)
            if ref is None:
                strip = dataclasses.replace(strip, has_exact=False)
            per.append(SamplerStats(strip=strip, pool_label=label, qq=_qq(pool, ref, i, j), mass=mass,
                                    heavy=self._heavy[k]))
        s = samplers[0]
        self.version += 1
        self.last = Stats(version=self.version, a=per[0], b=per[1] if len(per) > 1 else None,
                          per_rung=s.walkers_per_rung(), temperatures=s.temperatures.copy(), swaps=swaps,
                          naive_swap=s.settings.naive_swap,
                          tempered=len(s.temperatures) > 1 and s.phase == "tempering")
        self.cost_s = time.thread_time() - cpu0
        return self.last
