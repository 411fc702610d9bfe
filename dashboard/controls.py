"""What a dashboard session lets you set: a Panel-free ``param.Parameterized`` model.

`Controls` has one parameter per sampler setting, generated from `mdhmc.sampler.settings.SPEC`
(bounds, slider range, step, label, doc, choices; a ``nullable`` setting is None = "auto"),
plus what is not a setting: the target and its dimension, the stage, the plotted
coordinates, the sweeps per frame and play/pause. Parameter names are setting names, and
the URL keys are the parameter names, so one name travels from a preset file through the
CLI flag and the URL to the kernel.

Defaults are `Settings`' defaults overridden by `LIVE_DEFAULTS` (why a live page differs is
said there). Presets load and save through `mdhmc.sampler.presets`.

The model holds values and keeps them consistent (a dimension the target offers,
coordinates inside it, no exact HMC without a gradient); it never touches a sampler.
"""

from __future__ import annotations

import math
import os

import param

from mdhmc.sampler import Settings
from mdhmc.sampler import presets as presets_mod
from mdhmc.sampler.settings import ALIASES, GROUPS, LIVE_DEFAULTS, SPEC, canonical_name

from . import budget, catalog

__all__ = ["Controls", "STAGE_CHOICES", "SETTING_NAMES", "WIDGET_SETTINGS", "MISSION", "URL_KEYS",
           "LIVE_SWEEPS", "tidy", "legacy_query"]

#: stages offered: the sampler's five plus the side-by-side mode
STAGE_CHOICES = ("pipeline", "diffusion", "metropolis", "tempering", "hmc", "side-by-side")
#: the four sliders always in view; every other setting sits in its group's collapsible card
MISSION = ("step_size", "delta", "viscosity_gain", "t_hot")
#: Settings.sweeps of a live session: it never "finishes"
LIVE_SWEEPS = 100_000_000
AUTO = "auto"  # the URL value of a nullable setting left to the sampler

SETTING_NAMES = tuple(s.name for s in SPEC)
WIDGET_SETTINGS = {g: tuple(s.name for s in SPEC if s.group == g and s.widget) for g in GROUPS}
#: parameters mirrored in the URL (per-dimension lists such as ``mass`` stay out of links)
URL_KEYS = ("target", "target_dim", "stage", "xcoord", "ycoord", "sweeps_per_frame",
            *(s.name for s in SPEC if s.kind != "floats"))


def tidy(v):
    """Slider arithmetic leaves float noise (0.055000000000000014): 10 significant digits."""
    if isinstance(v, float) and math.isfinite(v) and v != 0.0:
        return float(f"{v:.10g}")
    return v


class Number(param.Number):
    """A number parameter whose URL form has no float noise; None (a nullable setting left to
    the sampler) reads and writes as ``auto``."""

    @classmethod
    def serialize(cls, value):
        return AUTO if value is None else tidy(value)

    @classmethod
    def deserialize(cls, value):
        return None if value == AUTO else value


def _default(s) -> object:
    return LIVE_DEFAULTS.get(s.name, s.default)


def _parameter(s) -> param.Parameter:
    """The parameter for setting ``s`` (SPEC record)."""
    common = dict(default=_default(s), label=s.label, doc=f"{s.doc[:1].upper()}{s.doc[1:]} (acts in: {s.where()}).")
    if s.kind == "bool":
        return param.Boolean(**common)
    if s.kind == "choice":
        return param.Selector(objects=list(s.choices), **common)
    if s.kind == "floats":
        return param.Parameter(**common)  # from presets and the CLI only (no widget, no URL)
    bounded = dict(bounds=s.bounds, softbounds=s.soft, step=s.step, allow_None=s.nullable, **common)
    if s.kind == "int":
        return param.Integer(**bounded)
    return Number(inclusive_bounds=(not s.lo_open, True), **bounded)


def _coord_default(t) -> tuple[int, int]:
    return (0, t.dim - 1) if (t.name == "funnel" and t.source == "built-in") else (0, min(1, t.dim - 1))


def legacy_query(query: dict) -> dict:
    """Parameter values from the keys of older links: ``dim`` (now ``target_dim``),
    ``metropolis_auto`` (now ``metropolis_scale=auto``) and settings' old names
    (``thermostat_gain``, ``gain``, ``trajectories``). Current keys are left to the URL sync."""
    out = {}
    for key, value in query.items():
        if key == "dim" and "target_dim" not in query:
            out["target_dim"] = value
        elif key == "metropolis_auto" and value is True and "metropolis_scale" not in query:
            out["metropolis_scale"] = None
        elif key in ALIASES and ALIASES[key] not in query:
            out[ALIASES[key]] = Number.deserialize(value)
    return out


class Controls(param.Parameterized):
    """Every control of one dashboard session; sampler settings are generated from SPEC."""

    target = param.Selector(default="scorpio", objects=["scorpio"], label="Target")
    target_dim = param.Integer(default=0, bounds=(0, 1000), label="Dimension",
                               doc="Dimension of the n-D targets (funnel, stiff-wells); 0: the target's default.")
    stage = param.Selector(default="pipeline", objects=list(STAGE_CHOICES), label="Stage")
    xcoord = param.Integer(default=0, bounds=(0, 999), label="Horizontal coordinate")
    ycoord = param.Integer(default=1, bounds=(0, 999), label="Vertical coordinate")
    sweeps_per_frame = param.Integer(default=1, bounds=(1, 1000), softbounds=(1, 50), label="Sweeps per frame")
    playing = param.Boolean(default=True, label="Playing")
    notice = param.String(default="", doc="A refused choice, in one sentence (shown by the app).")

    def __init__(self, **params):
        if "dim" in params:  # the old name of target_dim
            params.setdefault("target_dim", params.pop("dim"))
        params = {canonical_name(k): v for k, v in params.items()}
        self.param.target.objects = catalog.target_names()
        super().__init__(**params)
        self._fix_dim()
        self._fix_coords(force=not {"xcoord", "ycoord"} & set(params))
        self.param.watch(self._target_changed, ["target", "target_dim", "xcoord", "ycoord"])
        self.param.watch(self._stage_changed, ["stage"])
        self._check_budget(set(params))
        self.param.watch(lambda *events: self._check_budget({e.name for e in events}),
                         ["walkers", *budget.LENGTH_SETTINGS, "target", "target_dim"])

    # ------------------------------------------------------------------ consistency
    def target_object(self):
        """The `targets.Target` the controls name, or None where it cannot be had."""
        try:
            return catalog.get_target(self.target, self.target_dim)
        except Exception:
            return None

    def _fix_dim(self):
        dims = catalog.dims_for(self.target)
        want = (self.target_dim if self.target_dim in dims else dims[0]) if len(dims) > 1 else 0
        if want != self.target_dim:
            self.target_dim = want

    def _fix_coords(self, force: bool):
        t = self.target_object()
        if t is None:
            return
        d = t.dim
        default = _coord_default(t)
        bad = self.xcoord >= d or self.ycoord >= d or (d > 1 and self.xcoord == self.ycoord)
        if (force or bad) and (self.xcoord, self.ycoord) != default:
            self.param.update(xcoord=default[0], ycoord=default[1])

    def _target_changed(self, *events):
        names = {e.name for e in events}
        if names & {"target", "target_dim"}:
            self._fix_dim()
            self._fix_coords(force=not names & {"xcoord", "ycoord"})
            self._check_stage()
        else:
            self._fix_coords(force=False)

    def _stage_changed(self, *events):
        self._check_stage()

    def _check_stage(self) -> bool:
        """Exact HMC needs a gradient: refuse the stage (back to the pipeline) without one."""
        if self.stage in ("hmc", "side-by-side"):
            t = self.target_object()
            if t is not None and not t.has_gradient:
                self.notice = (f"target {t.name!r} has no gradient: exact HMC (and the side-by-side mode) "
                               "is not available")
                self.stage = "pipeline"
                return False
        return True

    def _dim(self) -> int:
        t = self.target_object()
        return t.dim if t is not None else max(1, self.target_dim)

    def _check_budget(self, changed: set) -> bool:
        """Clip walkers and trajectory lengths to the session's budget (`dashboard.budget`),
        naming what was clipped in ``notice``; True if nothing needed clipping."""
        updates, notes = budget.clip({n: getattr(self, n) for n in ("walkers", *budget.LENGTH_SETTINGS)},
                                     self._dim(), changed)
        if updates:
            self.param.update(**updates)
            self.notice = "; ".join(notes)
        return not updates

    # ------------------------------------------------------------------ settings
    def settings(self) -> Settings:
        """The `Settings` the controls describe, for a live run (which never finishes), within
        the session's budget (a value read between a change and its clipping is clipped here)."""
        d = {n: tidy(getattr(self, n)) for n in SETTING_NAMES}
        d.update(budget.clip(d, self._dim())[0])
        d["sweeps"] = max(LIVE_SWEEPS, int(d["warmup"]))
        return Settings.from_dict(d)

    def preset_json(self, name: str = "", description: str = "") -> str:
        """The current controls as the CLI's preset JSON (`mdhmc.sampler.presets`)."""
        s = self.settings().replace(sweeps=max(self.sweeps, self.warmup))
        entry = catalog.catalog().get(self.target)
        target = entry.path if entry is not None and entry.kind == "file" else self.target
        dims = catalog.dims_for(self.target)
        target_dim = (self.target_dim or dims[0]) if self.target in catalog.ND_DIMS else None
        stage = "pipeline" if self.stage == "side-by-side" else self.stage
        return presets_mod.dumps(s, target=target, stage=stage, name=name or f"dashboard: {self.target}",
                                 description=description, target_dim=target_dim)

    def apply_preset(self, preset) -> list[str]:
        """Apply a validated preset (`mdhmc.sampler.presets.Preset`, or its JSON text).

        The preset's target must be one this server offers (a name, or the path of a file
        the server was started with): a path from the browser is never loaded. Settings the
        preset leaves out take the live defaults. Returns notes; raises `PresetError`.
        """
        if isinstance(preset, (str, bytes)):
            text = preset.decode("utf-8", "replace") if isinstance(preset, bytes) else preset
            preset = presets_mod.loads(text, "preset")
        notes: list[str] = []
        updates: dict = {}
        if preset.get("target"):
            updates.update(self._preset_target(preset["target"], preset.get("target_dim"), notes))
        if preset.get("stage"):
            updates["stage"] = preset["stage"]
        for k, v in preset.apply(Settings(**LIVE_DEFAULTS)).to_dict().items():
            if isinstance(v, float) and math.isinf(v):
                v = 1e308  # "never" (trigger, trim_sds): a slider has no infinity
            updates[k] = tuple(v) if isinstance(v, list) else v
        self.param.update(**updates)
        return notes

    @staticmethod
    def _preset_target(tgt: str, tdim, notes: list) -> dict:
        names = catalog.catalog()
        match = tgt if tgt in names else None
        if match is None:  # a path: only a file this server was started with (matched by path or name)
            for n, e in names.items():
                if e.kind == "file" and (os.path.abspath(tgt) == e.path
                                         or os.path.basename(tgt) == os.path.basename(e.path)):
                    match = n
                    break
        if match is None:
            raise presets_mod.PresetError(
                f"preset target {tgt!r} is not offered by this server (targets: {', '.join(names)}); "
                "start the server with `mdhmc serve --target FILE.py` to add a file")
        dims = catalog.dims_for(match)
        if match in catalog.ND_DIMS:
            return {"target": match, "target_dim": tdim if tdim in dims else 0}
        if tdim and tdim not in dims:
            notes.append(f"target_dim {tdim} ignored: {match} is {dims[0]}-D")
        return {"target": match, "target_dim": 0}


for _s in SPEC:  # one parameter per sampler setting, generated from SPEC
    Controls.param.add_parameter(_s.name, _parameter(_s))
del _s
