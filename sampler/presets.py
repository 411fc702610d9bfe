"""Presets: one versioned JSON format for every setting, shared by the CLI and the dashboard.

A preset file looks like::

    {
      "format": "mdhmc-preset",
      "version": 1,
      "name": "Seed: the thread's Scorpio run",
      "target": "scorpio",            # optional: built-in name or path to a .py file
      "target_dim": null,             # optional: dim for funnel / stiff-wells
      "stage": "pipeline",            # optional
      "settings": {"step_size": 0.002, "steps": 5000, ...}   # any subset of Settings
    }

Unknown keys, wrong types and out-of-range values raise `PresetError` with one sentence.
Preset keys are the setting names of `mdhmc.sampler.settings.SPEC` (older names, its aliases, are
still read). Built-in presets are the package data ``mdhmc.presets`` (the ``presets/`` folder of the
checkout; ``mdhmc/presets/`` in an installed wheel), loaded by name with `builtin`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .settings import BY_NAME, STAGES, Settings, SettingsError

__all__ = ["Preset", "PresetError", "load", "loads", "dump", "dumps", "builtin_presets", "builtin", "PRESET_DIR",
           "JSON_INF"]

FORMAT = "mdhmc-preset"
VERSION = 1
# sampler/../presets: the checkout's presets/ folder, and mdhmc/presets/ (package data) in an installed wheel
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
#: how an infinite setting (``trigger``, ``trim_sds``: "never") is written, JSON having no infinity
JSON_INF = 1e308
_TOP_KEYS = {"format", "version", "name", "description", "target", "target_dim", "stage", "base", "settings"}
#: ``"base"``: what the preset's settings apply on top of. "defaults" (the default): the current
#: settings; "thread": the same, with every algorithm choice put back to the 2017 thread's
#: (`mdhmc.sampler.settings.THREAD_VALUES`), so a preset keeps meaning the thread's run
#: whatever defaults later versions choose.
BASES = ("defaults", "thread")


#: largest preset file read (presets are a few hundred bytes; /dev/zero must not fill the memory)
MAX_PRESET_BYTES = 1 << 20


class PresetError(ValueError):
    """A preset is unreadable or invalid (one readable sentence)."""


class Preset(dict):
    """A validated preset: a dict with keys name, description, target, target_dim, stage, settings.

    ``preset.apply(base)`` gives the `Settings` (``base`` overridden by the preset's settings).
    """

    def apply(self, base: Settings | None = None) -> Settings:
        base = base or Settings()
        if self.get("base") == "thread":
            base = base.as_thread()
        return Settings.from_dict(self["settings"], base)


def _validate(d, where: str) -> Preset:
    if not isinstance(d, dict):
        raise PresetError(f"{where}: a preset must be a JSON object")
    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise PresetError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    if d.get("format", FORMAT) != FORMAT:
        raise PresetError(f"{where}: format must be {FORMAT!r}, got {d.get('format')!r}")
    version = d.get("version", VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION or version < 1:
        raise PresetError(f"{where}: unsupported preset version {version!r} (this mdhmc reads version {VERSION})")
    stage = d.get("stage")
    if stage is not None and stage not in STAGES:
        raise PresetError(f"{where}: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    target = d.get("target")
    if target is not None and (not isinstance(target, str) or not target):
        raise PresetError(f"{where}: target must be a target name or file path, got {target!r}")
    tdim = d.get("target_dim")
    if tdim is not None and (isinstance(tdim, bool) or not isinstance(tdim, int) or tdim < 1):
        raise PresetError(f"{where}: target_dim must be an integer >= 1, got {tdim!r}")
    base = d.get("base", "defaults")
    if base not in BASES:
        raise PresetError(f"{where}: base must be one of {', '.join(BASES)}, got {base!r}")
    settings = d.get("settings", {})
    try:
        Settings.from_dict(settings)  # validates keys, types and ranges
    except SettingsError as exc:
        raise PresetError(f"{where}: {exc}") from None
    return Preset(
        name=d.get("name", ""), description=d.get("description", ""), target=target, target_dim=tdim,
        stage=stage, base=base, settings=dict(settings),
    )


def loads(text: str, where: str = "preset") -> Preset:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise PresetError(f"{where}: not a preset (JSON nested too deeply)") from None
    except ValueError:  # an integer of more digits than Python converts (4,300 by default)
        raise PresetError(f"{where}: not a preset (a number in it has too many digits)") from None
    return _validate(d, where)


def load(path: str | os.PathLike) -> Preset:
    """Read and validate a preset file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise PresetError(f"{path}: is a directory, not a preset file")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PRESET_BYTES + 1)
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset ({exc.strerror or exc})") from None
    if len(data) > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: not a preset (larger than {MAX_PRESET_BYTES // 2**20} MiB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PresetError(f"{path}: not a preset (not UTF-8 text: byte {exc.start})") from None
    return loads(text, path)


def dumps(settings: Settings, target: str | None = None, stage: str | None = None, name: str = "",
          description: str = "", target_dim: int | None = None, only_changed: bool = False) -> str:
    """Preset JSON for ``settings`` (all settings, or only those differing from the defaults)."""
    d = settings.to_dict()
    if only_changed:
        default = Settings().to_dict()
        d = {k: v for k, v in d.items() if v != default[k]}
    for key in d:
        if BY_NAME[key].allow_inf and d[key] == math.inf:
            d[key] = JSON_INF  # JSON has no infinity; every allow_inf setting reads a huge value as "never"
    out = {"format": FORMAT, "version": VERSION, "name": name, "description": description, "target": target,
           "target_dim": target_dim, "stage": stage, "settings": d}
    return json.dumps(out, indent=2)


def dump(path: str | os.PathLike, settings: Settings, **kw) -> None:
    """Write `dumps` to ``path`` atomically (an existing file survives a failed write)."""
    from .io import atomic_write

    text = dumps(settings, **kw)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")

    atomic_write(path, write)


def builtin_presets() -> dict[str, Preset]:
    """The presets shipped as package data (``mdhmc.presets``), by file stem."""
    out = {}
    if PRESET_DIR.is_dir():
        for p in sorted(PRESET_DIR.glob("*.json")):
            out[p.stem] = load(p)
    return out


def builtin(spec: str) -> tuple[Preset, str]:
    """A preset file, or a built-in preset named by its stem (``seed-scorpio``): (preset, path read).

    A name that is neither an existing file nor a built-in raises `PresetError` listing the built-ins.
    """
    path = spec
    if not os.path.exists(spec) and os.sep not in spec and not spec.endswith(".json"):
        candidate = PRESET_DIR / f"{spec}.json"
        if candidate.is_file():
            path = str(candidate)
    try:
        return load(path), path
    except PresetError as exc:
        if os.path.exists(path):
            raise
        names = sorted(p.stem for p in PRESET_DIR.glob("*.json")) if PRESET_DIR.is_dir() else []
        if not names:
            raise
        raise PresetError(f"{exc}; built-in presets are {', '.join(names)}") from None
