"""Saving a run: ``.npz`` (NumPy arrays) or ``.nc`` (ArviZ InferenceData), written atomically.

After ``result = Sampler(target, settings, stage).run()``::

    from mdhmc.sampler import io
    io.save("run.nc", result, settings=settings, target=target, stage=stage)

- ``.npz``: arrays ``final`` (cold walkers, dim), ``draws`` (draws, cold walkers, dim), ``lp``,
  ``temperatures``, and the strings ``settings_json``, ``preset_json`` (a preset that reproduces
  the run), ``target``, ``target_source``, ``stage``, ``report_json``; ``partial`` (True for a
  run stopped early: Ctrl-C or a raising log density) and ``sweeps_completed`` (-1: not given).
- ``.nc``: ArviZ InferenceData with ``posterior.x`` of dims (chain = cold walker, draw, dim);
  the same strings as attributes of the file and of the posterior group (``partial`` as 0/1). Needs ArviZ and
  h5netcdf (``pip install mdhmc[netcdf]``).

Writing goes to a temporary file in the destination's folder, then `os.replace`: a reader never
sees half a file, and an existing file is left as it was when writing fails.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import secrets

__all__ = ["save", "write_npz", "write_netcdf", "check_path", "check_space", "atomic_write", "OutputError", "FORMATS",
           "json_safe", "json_dumps"]

#: file suffix -> format name
FORMATS = {".npz": "npz", ".nc": "netcdf"}


class OutputError(ValueError):
    """An output path that cannot be written, or a run that this format cannot hold (one sentence)."""


# ---------------------------------------------------------------------------------- JSON
def json_safe(v):
    """Plain JSON values: numpy scalars and arrays to Python, NaN and +-inf to null."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy array or scalar
        return json_safe(v.tolist())
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


def json_dumps(obj) -> str:
    """Strict JSON (no NaN or Infinity tokens) of ``obj`` after `json_safe`."""
    return json.dumps(json_safe(obj), allow_nan=False)


# ---------------------------------------------------------------------------------- checks
def format_of(path: str | os.PathLike) -> str:
    """"npz" or "netcdf" from the file name (raises `OutputError` for any other suffix)."""
    for suffix, fmt in FORMATS.items():
        if os.fspath(path).endswith(suffix):
            return fmt
    raise OutputError(f"{os.fspath(path)!r}: the file name must end in {' or '.join(FORMATS)}")


def check_path(path: str | os.PathLike, records_draws: bool = True) -> str:
    """Refuse, before a long run, a path that `save` could not write; returns the format.

    ``records_draws``: whether the run will record draws (a ``.nc`` file needs some).
    """
    path = os.fspath(path)
    fmt = format_of(path)
    if fmt == "netcdf":
        for module, why in (("arviz", "ArviZ (pip install arviz)"), ("h5netcdf", "h5netcdf (pip install h5netcdf)")):
            if importlib.util.find_spec(module) is None:
                raise OutputError(f"{path!r}: a .nc file needs {why}; or write .npz")
        if not records_draws:
            raise OutputError(f"{path!r}: a .nc file needs recorded draws, and this run records none "
                              "(sweeps must exceed warmup; diffusion needs diffusion_sweeps >= 1)")
    full = os.path.abspath(path)
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        raise OutputError(f"{path!r}: directory {parent} does not exist")
    if os.path.isdir(full):
        raise OutputError(f"{path!r} is a directory")
    existed = os.path.exists(full)
    try:
        with open(full, "ab"):
            pass
    except OSError as exc:
        raise OutputError(f"{path!r}: not writable ({exc.strerror or exc})") from None
    if not existed:
        try:
            os.remove(full)
        except OSError:
            pass
    if not os.access(parent, os.W_OK):  # writing goes through a temporary file next to it
        raise OutputError(f"{path!r}: directory {parent} is not writable")
    return fmt


def check_space(path: str | os.PathLike, nbytes: int) -> None:
    """Refuse (`OutputError`) to write about ``nbytes`` of arrays where the disk has less free.

    Checked before writing, not only caught after: HDF5 (under ``.nc``) can crash the process
    on a full disk instead of raising.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows) or no folder: the writer will say
        return
    free = st.f_bavail * st.f_frsize
    need = int(nbytes * 1.1) + (1 << 20)  # format overhead and metadata
    if need > free:
        raise OutputError(f"{os.fspath(path)!r}: not enough free disk space ({free / 2**20:,.1f} MiB free, "
                          f"about {need / 2**20:,.1f} MiB needed)")


def _array_bytes(result: dict) -> int:
    return sum(getattr(result.get(k), "nbytes", 0) for k in ("final", "draws", "lp", "temperatures"))


# ---------------------------------------------------------------------------------- writers
def _metadata(result, settings, target, stage, preset, report) -> dict:
    """The strings stored with the arrays, in both formats."""
    from .presets import dumps

    name = getattr(target, "name", target)
    preset = preset if preset is not None else dumps(settings, target=name, stage=stage,
                                                     name=f"mdhmc run ({name}, {stage})")
    return {
        "target": "" if name is None else str(name),
        "target_source": str(getattr(target, "source", "")),
        "stage": "" if stage is None else str(stage),
        "settings_json": json.dumps(json.loads(dumps(settings))["settings"]),
        "preset_json": preset,
        "report_json": json_dumps({k: v for k, v in (report or {}).items() if k != "settings"}),
        # a run stopped early (Ctrl-C, a raising log density) saves what it recorded, marked so
        "partial": bool(result.get("partial", False)),
        "sweeps_completed": int(result.get("sweeps_completed", -1)),
    }


def atomic_write(path, write) -> str:
    """``write(tmp)`` then move ``tmp`` onto ``path``; returns the absolute path.

    ``tmp`` is a new name in the same folder (so `os.replace` is atomic) with the same suffix; it
    never outlives a failure, and an existing ``path`` is untouched unless ``write`` succeeded.
    """
    full = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(full)
    suffix = os.path.splitext(base)[1]
    tmp = os.path.join(folder, f".{base}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, full)
    finally:
        if os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass
    return full


def write_npz(path, result: dict, *, settings, target=None, stage: str | None = None, preset: str | None = None,
              report: dict | None = None) -> str:
    """Write ``result`` (of `Sampler.run` / `Sampler.result`) as ``.npz``; returns the absolute path.

    ``target``: the `Target` (or its name); ``preset``: preset JSON to store (default: one built
    from ``settings``, ``target`` and ``stage``); ``report``: a dict stored as ``report_json``.
    """
    import numpy as np

    meta = _metadata(result, settings, target, stage, preset, report)
    check_space(path, _array_bytes(result))

    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, final=result["final"], draws=result["draws"], lp=result["lp"],
                     temperatures=np.asarray(result["temperatures"]), **{k: np.array(v) for k, v in meta.items()})

    return atomic_write(path, write)


def write_netcdf(path, result: dict, *, settings, target=None, stage: str | None = None, preset: str | None = None,
                 report: dict | None = None) -> str:
    """Write ``result`` as ArviZ InferenceData (``.nc``, cold walkers as chains); see `write_npz`."""
    import warnings

    import arviz as az
    import numpy as np

    draws = np.asarray(result["draws"])
    if draws.shape[0] == 0:
        raise OutputError(f"{os.fspath(path)!r}: a .nc file needs recorded draws, and this run recorded none")
    meta = _metadata(result, settings, target, stage, preset, report)
    check_space(path, _array_bytes(result))
    attrs = {**meta, "partial": int(meta["partial"]), "inference_library": "mdhmc"}  # netCDF has no bool
    posterior = np.transpose(draws, (1, 0, 2))  # (chain = walker, draw, dim)
    with warnings.catch_warnings():  # "more chains than draws" is expected: walkers are the chains
        warnings.simplefilter("ignore", UserWarning)
        idata = az.from_dict(posterior={"x": posterior}, coords={"dim": np.arange(draws.shape[2])},
                             dims={"x": ["dim"]}, attrs=attrs)
    idata.posterior.attrs.update(attrs)  # on the group too, where xarray users look
    return atomic_write(path, lambda tmp: idata.to_netcdf(tmp, engine="h5netcdf"))


def save(path, result: dict, *, settings, target=None, stage: str | None = None, preset: str | None = None,
         report: dict | None = None) -> str:
    """`write_npz` or `write_netcdf`, by the suffix of ``path`` (``.npz`` or ``.nc``)."""
    writer = {"npz": write_npz, "netcdf": write_netcdf}[format_of(path)]
    return writer(path, result, settings=settings, target=target, stage=stage, preset=preset, report=report)
