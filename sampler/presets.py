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
Built-in presets live in the repository's ``presets/`` folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .settings import STAGES, Settings, SettingsError

__all__ = ["Preset", "PresetError", "load", "loads", "dump", "dumps", "builtin_presets", "PRESET_DIR"]

FORMAT = "mdhmc-preset"
VERSION = 1
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
_TOP_KEYS = {"format", "version", "name", "description", "target", "target_dim", "stage", "settings"}


class PresetError(ValueError):
    """A preset is unreadable or invalid (one readable sentence)."""


class Preset(dict):
    """A validated preset: a dict with keys name, description, target, target_dim, stage, settings.

    ``preset.apply(base)`` gives the `Settings` (``base`` overridden by the preset's settings).
    """

    def apply(self, base: Settings | None = None) -> Settings:
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
    settings = d.get("settings", {})
    try:
        Settings.from_dict(settings)  # validates keys, types and ranges
    except SettingsError as exc:
        raise PresetError(f"{where}: {exc}") from None
    return Preset(
        name=d.get("name", ""), description=d.get("description", ""), target=target, target_dim=tdim,
        stage=stage, settings=dict(settings),
    )


def loads(text: str, where: str = "preset") -> Preset:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return _validate(d, where)


def load(path: str | os.PathLike) -> Preset:
    """Read and validate a preset file."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset ({exc.strerror or exc})") from None
    return loads(text, path)


def dumps(settings: Settings, target: str | None = None, stage: str | None = None, name: str = "",
          description: str = "", target_dim: int | None = None, only_changed: bool = False) -> str:
    """Preset JSON for ``settings`` (all settings, or only those differing from the defaults)."""
    d = settings.to_dict()
    if only_changed:
        default = Settings().to_dict()
        d = {k: v for k, v in d.items() if v != default[k]}
    d = {k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}
    if d.get("trigger") == float("inf"):
        d["trigger"] = 1e308  # JSON has no infinity; a huge threshold means "never"
    if d.get("trim_sds") == float("inf"):
        d["trim_sds"] = 1e308
    out = {"format": FORMAT, "version": VERSION, "name": name, "description": description, "target": target,
           "target_dim": target_dim, "stage": stage, "settings": d}
    return json.dumps(out, indent=2)


def dump(path: str | os.PathLike, settings: Settings, **kw) -> None:
    text = dumps(settings, **kw)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def builtin_presets() -> dict[str, Preset]:
    """The presets shipped in ``presets/``, by file stem."""
    out = {}
    if PRESET_DIR.is_dir():
        for p in sorted(PRESET_DIR.glob("*.json")):
            out[p.stem] = load(p)
    return out
