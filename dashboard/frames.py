"""What the worker hands to the views: typed, immutable frames of plain numpy arrays.

A `Frame` is one publication of the worker (newest wins). Parts that change rarely carry a
``version`` so that a view redraws them only when they changed: `Layout` (target,
coordinates, density), `Rungs` (rung of each walker, the ladder), `Energy` (tracked
walker's energies), `Stats` (diagnostics, a few times a second).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mdhmc.sampler import Settings

__all__ = ["Frame", "Layout", "Rungs", "Points", "Trajectory", "Energy", "EnergyMeans", "Strip", "QQ", "Heavy",
           "SamplerStats", "Swaps", "Stats", "EMPTY"]

EMPTY = np.empty(0, np.float32)


def _none():
    """A field that defaults to an empty array (a fresh one: dataclass defaults are shared)."""
    return field(default_factory=lambda: np.empty(0, np.float32))


@dataclass(frozen=True)
class Layout:
    """Target and coordinates shown: changes with the target, the coordinates, the stage."""

    version: int
    target: str
    dim: int
    coords: tuple[int, int]
    labels: tuple[str, str]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    density: dict  # `catalog.density_image`: image, x, y, xs, ys, levels, note (shared, read-only)
    side_by_side: bool
    has_exact: bool
    is_mixture: bool
    components: tuple[str, ...]
    weights: np.ndarray | None


@dataclass(frozen=True)
class Rungs:
    """Rung of each walker and the temperature ladder."""

    version: int
    walkers: int
    rung: np.ndarray
    temperatures: np.ndarray
    naive_swap: bool
    tempered: bool


@dataclass(frozen=True)
class Points:
    """Two coordinates of a set of points (walkers, divergences)."""

    x: np.ndarray = _none()
    y: np.ndarray = _none()


@dataclass(frozen=True)
class Trajectory:
    """The tracked walker's last diffusion trajectory (points sized by their weight)."""

    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    w: np.ndarray
    line_x: np.ndarray
    line_y: np.ndarray
    start: tuple[float, float]
    chosen: tuple[float, float] | None
    triggers: Points | None


@dataclass(frozen=True)
class EnergyMeans:
    """Ensemble means per trajectory, as segments from x0 to x1."""

    x0: np.ndarray = _none()
    x1: np.ndarray = _none()
    U: np.ndarray = _none()
    K: np.ndarray = _none()
    H: np.ndarray = _none()
    herr: np.ndarray = _none()
    # the settings each trajectory ran with (the sliders' values when it was drawn)
    step_size: np.ndarray = _none()
    delta: np.ndarray = _none()
    viscosity_gain: np.ndarray = _none()


@dataclass(frozen=True)
class Energy:
    """Energies of the tracked walker over its recent trajectories (NaN gaps between them)."""

    version: int
    step: np.ndarray = _none()
    U: np.ndarray = _none()
    K: np.ndarray = _none()
    H: np.ndarray = _none()
    herr: np.ndarray = _none()
    means: EnergyMeans = field(default_factory=EnergyMeans)
    delta: float | None = None


@dataclass(frozen=True)
class Strip:
    """The diagnostics strip of one sampler: where it is and how fast it goes."""

    stage: str
    phase: str
    sweep: int
    stage_sweep: int
    recording: bool
    warmup: int
    steps_per_s: float
    evals_per_s: float
    sweeps_per_s: float
    acceptance: float  # NaN where undefined (the strip shows a dash and says why)
    swap_acceptance: float
    triggers: int | None  # None: not counted in this phase
    divergences: int | None
    abandoned: int  # diffusion trajectories given up on a NaN/inf log density
    nonfinite: int  # Metropolis proposals rejected for a NaN/+inf log density
    ejections: int | None
    trimmed: int | None
    rungs: int = 1
    has_exact: bool = True


@dataclass(frozen=True)
class QQ:
    """Quantiles of one coordinate: exact draws against the sampled pool, and the KS distance."""

    exact: np.ndarray
    sample: np.ndarray
    ks: float


@dataclass(frozen=True)
class Heavy:
    """The slower diagnostics, refreshed in turn about once a second."""

    ess: float = float("nan")
    rhat: float = float("nan")
    w1: float = float("nan")


@dataclass(frozen=True)
class SamplerStats:
    """Diagnostics of one sampler."""

    strip: Strip
    pool_label: str
    qq: tuple[QQ, QQ] | None  # horizontal, vertical coordinate
    mass: np.ndarray | None
    heavy: Heavy


@dataclass(frozen=True)
class Swaps:
    """Recent swap sweeps of the tempering phase."""

    sweep: np.ndarray = _none()
    acceptance: np.ndarray = _none()
    ejections: np.ndarray = _none()


@dataclass(frozen=True)
class Stats:
    """Diagnostics of the session: the main sampler (``a``), exact HMC beside it (``b``)."""

    version: int
    a: SamplerStats
    b: SamplerStats | None
    per_rung: np.ndarray
    temperatures: np.ndarray
    swaps: Swaps
    naive_swap: bool
    tempered: bool


@dataclass(frozen=True)
class Frame:
    """One publication of the worker. Without a sampler (starting, or the target failed)
    only the status fields are set."""

    seq: int
    session: int
    status: str
    error: str
    error_seq: int
    paused_by_error: bool
    layout: Layout | None = None
    rungs: Rungs | None = None
    walkers: Points | None = None
    walkers_b: Points | None = None
    trajectory: Trajectory | None = None
    traj_version: int = 0
    divergences: Points | None = None
    divergences_b: Points | None = None
    energy: Energy | None = None
    stats: Stats | None = None
    applied: Settings | None = None  # what the sampler runs on now
    stage: str = ""
    phase: str = ""
    sweep: int = 0
    probe: int = 0  # walkers of the diffusion probe beside the pipeline's later phases (0: none)
    progress: float | None = None  # fraction of the sweep under way done (frames drawn mid-sweep)
