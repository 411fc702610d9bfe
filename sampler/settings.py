"""Every tunable of the sampler in one validated, serialisable record.

The CLI, the presets and the dashboard all speak this one vocabulary. `Settings` is
immutable; ``settings.replace(step_size=0.01)`` returns a validated copy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

__all__ = ["Settings", "SettingsError", "STAGES"]

STAGES = ("diffusion", "metropolis", "tempering", "pipeline", "hmc")


class SettingsError(ValueError):
    """A setting is unknown, of the wrong type or out of range (one readable sentence)."""


def _num(lo=None, hi=None, lo_open=False, integer=False, allow_inf=False, doc=""):
    return {"lo": lo, "hi": hi, "lo_open": lo_open, "integer": integer, "allow_inf": allow_inf, "doc": doc}


@dataclass(frozen=True)
class Settings:
    """Settings of the ensemble, the five stages and the pipeline.

    Diffusion (approximate HMC): ``step_size`` (integrator step), ``steps`` per trajectory,
    ``delta`` (weight exp(-(Herr/delta)^2 + lp)), ``thermostat_gain`` (viscosity gain: friction
    = gain x (H - H*)), ``noise`` (momentum noise scale, per sqrt(time)), ``hot`` (hot-start
    factor on the initial momentum, >= 1), ``trigger`` (redraw momentum when one step changes
    H by more than this; ``inf`` disables), ``gradient`` ("spsa" or "exact"), ``spsa_c``
    (perturbation size), ``spsa_k`` (perturbations averaged), ``spsa_two_sided``,
    ``integrator`` ("leapfrog" or "euler": semi-implicit Euler), ``mass`` (None: unit; or a
    per-dimension diagonal).

    Trim: ``trim_sds`` (keep diffusion draws whose lp lies within this many sds of the mean).

    Metropolis / tempering: ``t_hot`` (hottest temperature), ``rungs`` (temperature ladder
    size, geometric from 1 to ``t_hot``; 1 means plain Metropolis), ``swaps_per_walker``
    (swap attempts per sweep per walker: the thread's 20n), ``naive_swap`` (the thread's
    first, biased rule: teaching only), ``metropolis_scale`` (None: adapted; else fixed),
    ``target_accept`` (None: 0.5 in 1-2D, 0.3 above), ``metropolis_steps`` per sweep.

    Exact HMC: ``hmc_step_size`` (initial; adapted during warm-up), ``hmc_steps``,
    ``hmc_target_accept``.

    Pipeline: ``walkers``, ``diffusion_sweeps`` (trajectories per walker), ``sweeps``
    (Metropolis/tempering/HMC sweeps), ``warmup`` (of those, adapting and not recorded),
    ``seed``.
    """

    walkers: int = 1000
    diffusion_sweeps: int = 20
    sweeps: int = 400
    warmup: int = 100
    steps: int = 200
    step_size: float = 0.05
    delta: float = 1.0
    thermostat_gain: float = 1.0
    noise: float = 0.3
    hot: float = 1.0
    trigger: float = 10.0
    gradient: str = "spsa"
    spsa_c: float = 0.01
    spsa_k: int = 1
    spsa_two_sided: bool = False
    integrator: str = "leapfrog"
    mass: tuple | None = None
    trim_sds: float = 3.0
    t_hot: float = 3.5
    rungs: int = 2
    swaps_per_walker: float = 20.0
    naive_swap: bool = False
    metropolis_scale: float | None = None
    target_accept: float | None = None
    metropolis_steps: int = 1
    hmc_step_size: float = 0.1
    hmc_steps: int = 20
    hmc_target_accept: float = 0.8
    seed: int = 0

    # ranges: (lo, hi, lo_open, integer, allow_inf)
    _RANGES = {
        "walkers": _num(2, 1_000_000, integer=True),
        "diffusion_sweeps": _num(0, 10_000_000, integer=True),
        "sweeps": _num(0, 100_000_000, integer=True),
        "warmup": _num(0, 100_000_000, integer=True),
        "steps": _num(1, 10_000_000, integer=True),
        "step_size": _num(0, 100, lo_open=True),
        "delta": _num(0, 1e6, lo_open=True),
        "thermostat_gain": _num(0, 1e6),
        "noise": _num(0, 1e3),
        "hot": _num(1, 1e3),
        "trigger": _num(0, None, lo_open=True, allow_inf=True),
        "spsa_c": _num(0, 1e3, lo_open=True),
        "spsa_k": _num(1, 1000, integer=True),
        "trim_sds": _num(0, None, lo_open=True, allow_inf=True),
        "t_hot": _num(1, 1e6),
        "rungs": _num(1, 64, integer=True),
        "swaps_per_walker": _num(0, 1e4),
        "metropolis_scale": _num(0, 1e6, lo_open=True),
        "target_accept": _num(0, 1, lo_open=True),
        "metropolis_steps": _num(1, 1_000_000, integer=True),
        "hmc_step_size": _num(0, 100, lo_open=True),
        "hmc_steps": _num(1, 100_000, integer=True),
        "hmc_target_accept": _num(0, 1, lo_open=True),
        "seed": _num(0, 2**63 - 1, integer=True),
    }
    _CHOICES = {"gradient": ("spsa", "exact"), "integrator": ("leapfrog", "euler")}
    _BOOLS = ("spsa_two_sided", "naive_swap")

    def __post_init__(self):
        for name, r in self._RANGES.items():
            v = getattr(self, name)
            if v is None and name in ("metropolis_scale", "target_accept"):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise SettingsError(f"{name} must be a number, got {v!r}")
            if r["integer"]:
                if isinstance(v, float):
                    if not v.is_integer():
                        raise SettingsError(f"{name} must be a whole number, got {v!r}")
                    object.__setattr__(self, name, int(v))
                    v = int(v)
            else:
                object.__setattr__(self, name, float(v))
                v = float(v)
            if math.isnan(v) or (math.isinf(v) and not r["allow_inf"]):
                raise SettingsError(f"{name} must be finite, got {v!r}")
            lo, hi = r["lo"], r["hi"]
            if lo is not None and (v < lo or (r["lo_open"] and v <= lo)):
                raise SettingsError(f"{name} must be {'>' if r['lo_open'] else '>='} {lo}, got {v!r}")
            if hi is not None and v > hi:
                raise SettingsError(f"{name} must be <= {hi}, got {v!r}")
        for name, choices in self._CHOICES.items():
            if getattr(self, name) not in choices:
                raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        for name in self._BOOLS:
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.mass is not None:
            try:
                m = tuple(float(v) for v in self.mass)
            except (TypeError, ValueError):
                raise SettingsError(f"mass must be a list of positive numbers, got {self.mass!r}") from None
            if not m or not all(math.isfinite(v) and v > 0 for v in m):
                raise SettingsError(f"mass must be a list of positive finite numbers, got {self.mass!r}")
            object.__setattr__(self, "mass", m)
        if self.warmup > self.sweeps:
            raise SettingsError(f"warmup ({self.warmup}) must not exceed sweeps ({self.sweeps})")

    def replace(self, **changes) -> "Settings":
        """A validated copy with ``changes`` applied (unknown names raise `SettingsError`)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        if d["mass"] is not None:
            d["mass"] = list(d["mass"])
        return d

    @classmethod
    def from_dict(cls, d: dict, base: "Settings | None" = None) -> "Settings":
        """Settings from a plain dict (e.g. a preset); unknown keys raise `SettingsError`."""
        if not isinstance(d, dict):
            raise SettingsError(f"settings must be a JSON object, got {type(d).__name__}")
        base = base or cls()
        return base.replace(**d)

    def target_accept_for(self, dim: int) -> float:
        if self.target_accept is not None:
            return self.target_accept
        return 0.5 if dim <= 2 else 0.3

    def temperatures(self) -> list[float]:
        """Geometric ladder from 1 to ``t_hot`` with ``rungs`` rungs."""
        if self.rungs == 1:
            return [1.0]
        return [self.t_hot ** (k / (self.rungs - 1)) for k in range(self.rungs)]

