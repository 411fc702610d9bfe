"""Every tunable of the sampler, declared once.

`SPEC` is the one vocabulary. Each `Setting` carries its name, default, type, bounds,
slider range, label, doc, group and the phases it acts in; everything else is generated
from it:

- `Settings`, the immutable validated record the sampler runs on (``settings.replace(...)``);
- the CLI flags of ``mdhmc run`` (``--step_size``; ``--step-size`` and older spellings are
  aliases: `Setting.aliases`);
- the dashboard's parameters, widgets and URL keys (`mdhmc.dashboard.controls`);
- the keys of preset files (`mdhmc.sampler.presets`).

So one name travels from the preset file through the CLI and the URL to the kernel.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields

__all__ = ["Setting", "SPEC", "BY_NAME", "ALIASES", "GROUPS", "PHASES", "LIVE_DEFAULTS", "THREAD_VALUES", "Settings",
           "SettingsError", "STAGES", "canonical_name", "MOVE_MIXES"]

STAGES = ("diffusion", "metropolis", "tempering", "pipeline", "hmc")
#: what a sweep can be doing; the pipeline passes through diffusion, trim and tempering
PHASES = ("diffusion", "trim", "metropolis", "tempering", "hmc")
GROUPS = {
    "ensemble": "Ensemble",
    "diffusion": "Momentum diffusion",
    "metropolize": "Trim, Metropolis and tempering",
    "hmc": "Exact HMC (baseline)",
}
_EXACT = ("metropolis", "tempering", "hmc")
#: named mixes of the exact ensemble moves (`sampler.moves.mix_weights`): names joined by "+", equal weights
MOVE_MIXES = ("rwm", "de", "stretch", "dime", "de+rwm", "dime+rwm", "de+stretch", "de+stretch+rwm")


class SettingsError(ValueError):
    """A setting is unknown, of the wrong type or out of range (one readable sentence)."""


@dataclass(frozen=True)
class Setting:
    """One tunable: everything the CLI, the dashboard and the preset files need to know.

    ``kind`` is "int", "float", "bool", "choice" or "floats" (a per-dimension list).
    ``bounds`` are hard (validation); ``soft`` is the slider's range. ``nullable``: None is
    allowed and means "automatic" (shown as "auto"). ``phases``: where a change acts (an
    empty tuple: everywhere). ``resets``: a live change restarts the ensemble.
    ``widget``: offered as a dashboard control (else kept from presets / the CLI only).
    ``thread``: the value that reproduces the 2017 thread's algorithm, where our default has moved
    away from it (`THREAD_VALUES`; the ``thread`` preset and ``seed-scorpio`` are built on it).
    """

    name: str
    default: object
    kind: str
    label: str
    doc: str
    group: str
    phases: tuple = ()
    bounds: tuple = (None, None)
    lo_open: bool = False
    allow_inf: bool = False
    soft: tuple | None = None
    step: float | None = None
    choices: tuple = ()
    nullable: bool = False
    aliases: tuple = ()
    resets: bool = False
    widget: bool = True
    thread: object = None  # None: the default already is the thread's value (see THREAD_VALUES)

    @property
    def flag(self) -> str:
        return "--" + self.name

    @property
    def python_type(self):
        base = {"int": int, "float": float, "bool": bool, "choice": str, "floats": tuple}[self.kind]
        return base | None if self.nullable or self.kind == "floats" else base

    def where(self) -> str:
        """The phases it acts in, as words (for help texts and the dashboard's tooltips)."""
        return ", ".join(self.phases) if self.phases else "every stage"


def _s(name, default, kind, label, doc, group, **kw) -> Setting:
    return Setting(name, default, kind, label, doc, group, **kw)


SPEC: tuple[Setting, ...] = (
    # --- ensemble and run length -------------------------------------------------------
    _s("walkers", 1000, "int", "Walkers", "ensemble size", "ensemble",
       bounds=(2, 1_000_000), soft=(100, 10_000), step=100, resets=True),
    _s("diffusion_sweeps", 20, "int", "Diffusion sweeps",
       "momentum-diffusion sweeps (one trajectory per walker each) before the pipeline trims and tempers",
       "ensemble", phases=("diffusion",), bounds=(0, 10_000_000), soft=(0, 200), aliases=("trajectories",)),
    _s("sweeps", 400, "int", "Sweeps", "Metropolis / tempering / HMC sweeps of a headless run",
       "ensemble", phases=_EXACT, bounds=(0, 100_000_000), widget=False),
    _s("warmup", 100, "int", "Warm-up sweeps",
       "of the sweeps, the first ones adapt (proposal scale, step size) and are not recorded",
       "ensemble", phases=_EXACT, bounds=(0, 100_000_000), soft=(0, 500)),
    _s("seed", 0, "int", "Seed", "random seed: same seed, same draws at any thread count", "ensemble",
       bounds=(0, 2**53 - 1), resets=True),
    # --- momentum diffusion ------------------------------------------------------------
    _s("steps", 200, "int", "Steps per trajectory", "integration steps per diffusion trajectory", "diffusion",
       phases=("diffusion",), bounds=(1, 10_000_000), soft=(5, 2000)),
    _s("step_size", 0.05, "float", "Step size", "integrator step size of the diffusion trajectories", "diffusion",
       phases=("diffusion",), bounds=(0, 100), lo_open=True, soft=(0.001, 0.3), step=0.001),
    _s("delta", 1.0, "float", "Delta",
       "Hamiltonian-error scale of the point weights exp(-(Herr/delta)^2 + lp)", "diffusion",
       phases=("diffusion",), bounds=(0, 1e6), lo_open=True, soft=(0.05, 5.0), step=0.05),
    _s("viscosity_gain", 1.0, "float", "Viscosity gain",
       "thermostat gain: friction = gain x (H - H*) slows a walker that is too hot, pushes one too cold",
       "diffusion", phases=("diffusion",), bounds=(0, 1e6), soft=(0.0, 10.0), step=0.1,
       aliases=("thermostat_gain", "gain")),
    _s("noise", 0.3, "float", "Noise", "momentum noise scale, per sqrt(time)", "diffusion",
       phases=("diffusion",), bounds=(0, 1e3), soft=(0.0, 3.0), step=0.05),
    _s("hot", 1.0, "float", "Hot-start factor",
       "factor on each trajectory's initial momentum (>= 1; the thermostat cools it back)", "diffusion",
       phases=("diffusion",), bounds=(1, 1e3), soft=(1.0, 5.0), step=0.1),
    _s("trigger", 10.0, "float", "Trigger threshold",
       "redraw the momentum when one step changes H by more than this (inf: never)", "diffusion",
       phases=("diffusion",), bounds=(0, None), lo_open=True, allow_inf=True, soft=(0.5, 100.0), step=0.5),
    _s("gradient", "spsa", "choice", "Gradient",
       "SPSA estimate, the target's exact gradient, or central differences (2 x dim evaluations: small dims)",
       "diffusion", phases=("diffusion",), choices=("spsa", "exact", "central")),
    _s("spsa_c", 0.01, "float", "SPSA perturbation", "size c of the SPSA perturbation", "diffusion",
       phases=("diffusion",), bounds=(0, 1e3), lo_open=True, soft=(0.001, 0.1), step=0.001),
    _s("spsa_k", 1, "int", "SPSA directions", "SPSA estimates averaged per step (noise variance / k)", "diffusion",
       phases=("diffusion",), bounds=(1, 1000), soft=(1, 16)),
    _s("spsa_two_sided", False, "bool", "Two-sided SPSA", "central difference: 2 evaluations per direction",
       "diffusion", phases=("diffusion",)),
    _s("integrator", "leapfrog", "choice", "Integrator", "leapfrog, or semi-implicit Euler", "diffusion",
       phases=("diffusion",), choices=("leapfrog", "euler")),
    _s("mass", None, "floats", "Mass (diagonal)", "per-dimension diagonal mass, comma-separated (none: unit)",
       "diffusion", phases=("diffusion", "hmc"), widget=False),
    # issue 10 (sampler/preconditioning.py, benchmarks/weighting.py, benchmarks/diffusion_scale.py)
    _s("weighting", "multinomial", "choice", "Point weights",
       "log weight of a trajectory point: thread -(Herr/delta)^2 + lp, energy -(Herr/delta)^2, "
       "multinomial -Herr", "diffusion", phases=("diffusion",), choices=("thread", "energy", "multinomial"),
       thread="thread"),
    _s("precondition", "curvature", "choice", "Preconditioner",
       "per-coordinate scale (mass and SPSA metric) refreshed during the diffusion warm-up: none, "
       "ensemble (robust spread of the walkers) or curvature (also finite-difference curvature)", "diffusion",
       phases=("diffusion",), choices=("none", "ensemble", "curvature"), thread="none"),
    _s("adapt_step_size", True, "bool", "Adapt step size",
       "during the diffusion warm-up, steer step_size to the energy-error target (then frozen; "
       "a later change of step_size sets it)", "diffusion", phases=("diffusion",), thread=False),
    _s("diffusion_warmup", 10, "int", "Diffusion warm-up",
       "first diffusion sweeps that adapt the preconditioner and the step size", "diffusion",
       phases=("diffusion",), bounds=(0, 10_000_000), soft=(0, 100)),
    _s("search", True, "bool", "Search far walkers",
       "a walker far below the ensemble (search_sds) whose own quadratic model also says far out takes a "
       "diagonal Newton step and a Laplace draw before its trajectory (with the target's gradient if it has "
       "one, else finite differences of lp)", "diffusion", phases=("diffusion",), thread=False),
    _s("search_sds", 5.0, "float", "Search below (sds)",
       "a walker whose lp is this many sds (sqrt(dim/2)) below the ensemble's 90th percentile, and whose "
       "model predicts a rise of more than dim/2 + this many sds, searches (inf: never)", "diffusion", phases=("diffusion",), bounds=(0, None), lo_open=True,
       allow_inf=True, soft=(0.5, 20.0), step=0.5),
    # --- trim, Metropolis, tempering -----------------------------------------------------
    _s("trim_sds", 3.0, "float", "Trim (sds)",
       "after diffusion keep the walkers whose lp is within this many sds of the centre (inf: keep all)",
       "metropolize", phases=("trim",), bounds=(0, None), lo_open=True, allow_inf=True, soft=(0.5, 10.0), step=0.1),
    _s("trim_rule", "mad", "choice", "Trim rule",
       "centre and spread of lp for the trim: median and 1.4826 x MAD (robust), or the thread's mean and sd",
       "metropolize", phases=("trim",), choices=("mad", "sd"), thread="sd"),
    _s("t_hot", 3.5, "float", "Temperature", "temperature of the hottest tempering rung", "metropolize",
       phases=("tempering",), bounds=(1, 1e6), soft=(1.0, 20.0), step=0.1),
    _s("rungs", None, "int", "Rungs",
       "temperature rungs from 1 to t_hot (1: plain Metropolis; auto: enough for ~25% adjacent swap "
       "acceptance, spacing adapted during warm-up, then frozen)",
       "metropolize", phases=("tempering",), bounds=(1, 64), soft=(1, 16), nullable=True, thread=2),
    _s("moves", "de+stretch", "choice", "Moves",
       "exact moves of the Metropolis/tempering sweeps, mixed with equal weights: random-walk Metropolis (rwm), "
       "differential evolution (de), the stretch move, DIME (de + an independence proposal fitted to the ensemble); "
       "where the walkers do not span the space (under 2 per dimension, or on a lower-dimensional set) a mix of "
       "de and stretch alone gains rwm",
       "metropolize", phases=("metropolis", "tempering"), choices=MOVE_MIXES, thread="rwm"),
    _s("swaps_per_walker", 20.0, "float", "Swaps per walker", "swap attempts per sweep per walker (the thread's 20n)",
       "metropolize", phases=("tempering",), bounds=(0, 1e4), soft=(0.0, 50.0), step=1.0),
    _s("naive_swap", False, "bool", "Naive swap rule (biased)",
       "the thread's first swap rule, which does not keep the target: teaching only", "metropolize",
       phases=("tempering",)),
    _s("metropolis_scale", None, "float", "Metropolis scale",
       "proposal scale on the complementary half's sd (auto: adapted during warm-up)", "metropolize",
       phases=("metropolis", "tempering"), bounds=(0, 1e6), lo_open=True, soft=(0.05, 5.0), step=0.05, nullable=True),
    _s("target_accept", None, "float", "Target acceptance",
       "Metropolis acceptance the scale adapts to (auto: 0.5 in 1-2D, 0.3 above)", "metropolize",
       phases=("metropolis", "tempering"), bounds=(0, 1), lo_open=True, soft=(0.05, 0.95), step=0.05, nullable=True),
    _s("metropolis_steps", 1, "int", "Metropolis steps", "Metropolis steps per walker per sweep", "metropolize",
       phases=("metropolis", "tempering"), bounds=(1, 1_000_000), soft=(1, 20)),
    # --- exact HMC --------------------------------------------------------------------
    _s("hmc_step_size", 0.1, "float", "HMC step size", "initial HMC step size (adapted during warm-up)", "hmc",
       phases=("hmc",), bounds=(0, 100), lo_open=True, soft=(0.001, 1.0), step=0.001),
    _s("hmc_steps", 20, "int", "HMC steps", "leapfrog steps per HMC trajectory", "hmc",
       phases=("hmc",), bounds=(1, 100_000), soft=(1, 200)),
    _s("hmc_target_accept", 0.8, "float", "HMC target acceptance", "acceptance the HMC step size adapts to", "hmc",
       phases=("hmc",), bounds=(0, 1), lo_open=True, soft=(0.5, 0.99), step=0.01),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SPEC}
#: older names still accepted as preset keys, CLI flags and URL keys
ALIASES: dict[str, str] = {a: s.name for s in SPEC for a in s.aliases}

#: The settings whose defaults moved away from the 2017 thread's algorithm, at the thread's values.
#: ``Settings.thread()`` (and presets with ``"base": "thread"``) apply them, so the thread's
#: algorithm stays exactly reachable: same seed, same draws as before the defaults changed.
THREAD_VALUES: dict[str, object] = {s.name: s.thread for s in SPEC if s.thread is not None}

#: The dashboard's defaults where they differ from a headless run's, and why: a live page wants
#: a dense cloud (more walkers), sweeps short enough to animate (fewer steps), and recording that
#: starts within seconds (shorter warm-up). Everything else is the same.
LIVE_DEFAULTS = {"walkers": 2000, "steps": 100, "warmup": 50}


def canonical_name(name: str) -> str:
    """The setting's name for ``name`` (itself, an alias, or its dashed CLI form); unknown names
    come back unchanged."""
    n = name.replace("-", "_")
    return ALIASES.get(n, n)


def _validate(s: Setting, v):
    """``v`` checked and normalised for setting ``s`` (raises `SettingsError`)."""
    name = s.name
    if v is None and (s.nullable or s.kind == "floats"):
        return None
    if s.kind == "bool":
        if not isinstance(v, bool):
            raise SettingsError(f"{name} must be true or false, got {v!r}")
        return v
    if s.kind == "choice":
        if v not in s.choices:
            raise SettingsError(f"{name} must be one of {', '.join(s.choices)}, got {v!r}")
        return v
    if s.kind == "floats":
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            raise SettingsError(f"{name} must be a list of positive numbers, got {v!r}")
        items = list(v)
        if any(isinstance(x, (bool, str, bytes)) for x in items):  # "12" is not [1.0, 2.0]
            raise SettingsError(f"{name} must be a list of positive numbers, got {v!r}")
        try:
            m = tuple(float(x) for x in items)
        except (TypeError, ValueError):
            raise SettingsError(f"{name} must be a list of positive numbers, got {v!r}") from None
        if not m or not all(math.isfinite(x) and x > 0 for x in m):
            raise SettingsError(f"{name} must be a list of positive finite numbers, got {v!r}")
        return m
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SettingsError(f"{name} must be a number, got {v!r}")
    if s.kind == "int":
        if isinstance(v, float):
            if not v.is_integer():
                raise SettingsError(f"{name} must be a whole number, got {v!r}")
        v = int(v)
    else:
        v = float(v)
    if isinstance(v, float) and (math.isnan(v) or (math.isinf(v) and not s.allow_inf)):
        raise SettingsError(f"{name} must be finite, got {v!r}")
    lo, hi = s.bounds
    if lo is not None and (v < lo or (s.lo_open and v <= lo)):
        raise SettingsError(f"{name} must be {'>' if s.lo_open else '>='} {lo}, got {v!r}")
    if hi is not None and v > hi:
        raise SettingsError(f"{name} must be <= {hi}, got {v!r}")
    return v


class _SettingsMethods:
    """Behaviour of the generated `Settings` record."""

    def __post_init__(self):
        for s in SPEC:
            object.__setattr__(self, s.name, _validate(s, getattr(self, s.name)))
        if self.warmup > self.sweeps:
            raise SettingsError(f"warmup ({self.warmup}) must not exceed sweeps ({self.sweeps})")

    def replace(self, **changes) -> "Settings":
        """A validated copy with ``changes`` applied (unknown names raise `SettingsError`)."""
        unknown = sorted(set(changes) - set(BY_NAME))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def thread(cls, **changes) -> "Settings":
        """The 2017 thread's algorithm (`THREAD_VALUES` over the defaults), with ``changes``."""
        return cls().replace(**{**THREAD_VALUES, **changes})

    def as_thread(self) -> "Settings":
        """These settings with every algorithm choice put back to the thread's (`THREAD_VALUES`)."""
        return self.replace(**THREAD_VALUES)

    @classmethod
    def names(cls) -> list[str]:
        return [s.name for s in SPEC]

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        if d["mass"] is not None:
            d["mass"] = list(d["mass"])
        return d

    @classmethod
    def from_dict(cls, d: dict, base: "Settings | None" = None) -> "Settings":
        """Settings from a plain dict (a preset's ``settings``); older names are accepted,
        unknown keys raise `SettingsError` (naming close matches)."""
        if not isinstance(d, dict):
            raise SettingsError(f"settings must be a JSON object, got {type(d).__name__}")
        out = {}
        for k, v in d.items():
            if not isinstance(k, str):
                raise SettingsError(f"unknown setting {k!r}")
            name = ALIASES.get(k, k)
            if name not in BY_NAME:
                import difflib

                close = difflib.get_close_matches(k, list(BY_NAME) + list(ALIASES), n=1, cutoff=0.6)
                raise SettingsError(f"unknown setting {k!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
            if name in out:
                raise SettingsError(f"setting {name!r} is given twice (as {k!r} and under another name)")
            out[name] = v
        return (base or cls()).replace(**out)

    def changed(self, other: "Settings") -> set[str]:
        """Names whose values differ from ``other``'s."""
        return {s.name for s in SPEC if getattr(self, s.name) != getattr(other, s.name)}

    def target_accept_for(self, dim: int) -> float:
        if self.target_accept is not None:
            return self.target_accept
        return 0.5 if dim <= 2 else 0.3

    def rung_count(self, dim: int) -> int:
        """Rungs of the ladder for a ``dim``-dimensional target: ``rungs``, or with rungs = auto
        the count `sampler.ladder.auto_rungs` picks (~25% adjacent swap acceptance up to t_hot)."""
        if self.rungs is not None:
            return self.rungs
        from .ladder import auto_rungs

        return auto_rungs(dim, self.t_hot, self.walkers)

    def temperatures(self, dim: int = 2) -> list[float]:
        """Geometric ladder from 1 to ``t_hot`` with `rung_count` rungs (the starting ladder of rungs = auto)."""
        rungs = self.rung_count(dim)
        if rungs == 1:
            return [1.0]
        return [self.t_hot ** (k / (rungs - 1)) for k in range(rungs)]


def _doc() -> str:
    lines = ["Settings of the ensemble, the stages and the pipeline (immutable, validated).", ""]
    for group, title in GROUPS.items():
        lines.append(f"{title}:")
        for s in SPEC:
            if s.group == group:
                lines.append(f"    {s.name} = {s.default!r}: {s.doc}")
    return "\n".join(lines)


Settings = dataclasses.make_dataclass(
    "Settings", [(s.name, s.python_type, field(default=s.default)) for s in SPEC],
    bases=(_SettingsMethods,), frozen=True,
)
Settings.__module__ = __name__
Settings.__doc__ = _doc()
