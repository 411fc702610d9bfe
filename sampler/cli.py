"""The ``mdhmc`` command line: list targets, run a stage or the pipeline headless, serve the dashboard.

::

    mdhmc targets [--json]
    mdhmc run --target NAME|FILE.py [--stage STAGE] [--preset FILE.json] [knobs...] [--out FILE.npz|FILE.nc] [--json]
    mdhmc serve [--port N] [--no-show] [--target FILE.py ...]

Settings come from three layers, later ones winning: `Settings` defaults < ``--preset`` < flags
given on the command line. Bad input (unknown target, broken target file, a value out of
range, an unreadable preset, an unwritable output path, ...) exits with status 2 and one
line ``mdhmc: error: ...`` on stderr; Ctrl-C exits with 130.

``mdhmc serve`` runs ``python -m panel serve dashboard/app.py`` (or the app file named in
``MDHMC_DASHBOARD_APP``); extra target files are loaded once here, so that a broken one is
refused with its `TargetError` sentence, then reach the dashboard through the environment
variable ``MDHMC_TARGET_FILES`` (absolute paths joined with ``os.pathsep``; without
``--target`` the variable is passed on as inherited).

Heavy modules (numba, the sampler, ArviZ) are imported only by the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import threading
import time

__all__ = ["main", "build_parser", "format_report", "CLIError", "TARGET_FILES_ENV", "APP_ENV"]

TARGET_FILES_ENV = "MDHMC_TARGET_FILES"
DASHBOARD_APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dashboard", "app.py")
APP_ENV = "MDHMC_DASHBOARD_APP"  # serve another Panel app file instead (tests, custom dashboards)
STAGES = ("diffusion", "metropolis", "tempering", "pipeline", "hmc")  # = sampler.settings.STAGES (kept light)

# run flag (argparse dest) -> Settings field
FLAG_FIELDS = {
    "walkers": "walkers",
    "sweeps": "sweeps",
    "warmup": "warmup",
    "trajectories": "diffusion_sweeps",
    "steps": "steps",
    "step_size": "step_size",
    "delta": "delta",
    "gain": "viscosity_gain",
    "noise": "noise",
    "hot": "hot",
    "trigger": "trigger",
    "t_hot": "t_hot",
    "rungs": "rungs",
    "seed": "seed",
}
FIELD_FLAGS = {field: "--" + dest.replace("_", "-") for dest, field in FLAG_FIELDS.items()}


class CLIError(Exception):
    """Bad input or an unusable environment: one line on stderr and exit ``status``."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(" ".join(str(message).split()))  # always one line
        self.status = status


# ---------------------------------------------------------------------------------- parsing
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block, no traceback
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not v.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(v)


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(v):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mdhmc",
        description="Momentum-diffusion HMC lab: headless runs, presets and the dashboard.",
        epilog="'mdhmc COMMAND --help' describes each command.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("targets", help="list the built-in targets",
                       description="List the built-in targets: name, dimension, exact draws, gradient, components.")
    t.add_argument("--json", action="store_true", help="print one JSON list instead of a table")

    r = sub.add_parser(
        "run", help="run a stage or the whole pipeline and report",
        description="Run a stage (or the pipeline: diffusion -> trim -> tempering) headless and report "
        "accuracy and cost. Precedence: built-in defaults < --preset < flags on the command line.",
        epilog="Example: mdhmc run --target scorpio --preset presets/seed-scorpio.json --walkers 2000 --out run.nc",
    )
    g = r.add_argument_group("what to run")
    g.add_argument("--target", metavar="NAME|FILE.py",
                   help="built-in target name (see 'mdhmc targets') or a Python target file; "
                   "required unless the preset names one")
    g.add_argument("--target-dim", type=_int, metavar="N", help="dimension of the n-D targets (funnel, stiff-wells)")
    g.add_argument("--stage", metavar="STAGE",
                   help=f"one of {', '.join(STAGES)} (default: the preset's, else pipeline)")
    g.add_argument("--preset", metavar="FILE.json",
                   help="preset file (or the name of a built-in preset, e.g. seed-scorpio)")
    k = r.add_argument_group("sampler settings (override the preset)")
    k.add_argument("--walkers", type=_int, metavar="N", help="ensemble size (>= 2)")
    k.add_argument("--sweeps", type=_int, metavar="N", help="Metropolis / tempering / HMC sweeps")
    k.add_argument("--warmup", type=_int, metavar="N", help="of those sweeps, adapting and not recorded")
    k.add_argument("--trajectories", type=_int, metavar="N", help="diffusion sweeps (one trajectory per walker each)")
    k.add_argument("--steps", type=_int, metavar="N", help="steps per diffusion trajectory")
    k.add_argument("--step-size", type=_float, metavar="X", help="diffusion integrator step size (> 0)")
    k.add_argument("--delta", type=_float, metavar="X", help="Hamiltonian-error scale of the point weights (> 0)")
    k.add_argument("--gain", type=_float, metavar="X", help="thermostat (viscosity) gain")
    k.add_argument("--noise", type=_float, metavar="X", help="momentum noise scale")
    k.add_argument("--hot", type=_float, metavar="X", help="hot-start factor on the initial momentum (>= 1)")
    k.add_argument("--trigger", type=_float, metavar="X", help="momentum redraw threshold on one step's |dH| (inf: never)")
    k.add_argument("--t-hot", type=_float, metavar="X", help="hottest tempering temperature (>= 1)")
    k.add_argument("--rungs", type=_int, metavar="K", help="temperature rungs (1: plain Metropolis)")
    k.add_argument("--seed", type=_int, metavar="N", help="random seed (same seed, same draws at any thread count)")
    o = r.add_argument_group("execution and output")
    o.add_argument("--threads", type=_int, metavar="N", help="numba threads (default: all cores)")
    o.add_argument("--out", metavar="FILE.npz|FILE.nc",
                   help=".npz: arrays final, draws, lp and the settings; .nc: ArviZ InferenceData (walkers as chains)")
    o.add_argument("--json", action="store_true", help="print the report as one JSON object (last line of stdout); no progress bar")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no notes on stderr")
    o.add_argument("--dry-run", action="store_true",
                   help="check everything, print the resolved run as preset JSON and exit without sampling")

    s = sub.add_parser(
        "serve", help="start the dashboard",
        description=f"Start the Panel dashboard (panel serve dashboard/app.py). Extra target files are "
        f"checked here, then passed to the app in ${TARGET_FILES_ENV}.",
    )
    s.add_argument("--port", type=_int, default=5006, metavar="N", help="port to listen on (default 5006)")
    s.add_argument("--no-show", action="store_true", help="do not open a browser")
    s.add_argument("--target", action="extend", nargs="+", default=[], metavar="FILE.py",
                   help="extra target file(s) to offer in the dashboard's target list")
    return p


# ---------------------------------------------------------------------------------- helpers
def _json_safe(v):
    """Plain JSON values: numpy scalars/arrays to Python, NaN and +-inf to null."""
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy array or scalar
        return _json_safe(v.tolist())
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


def _dumps(obj) -> str:
    return json.dumps(_json_safe(obj), allow_nan=False)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _yes(b) -> str:
    return "yes" if b else "no"


def _check_out_path(path: str, needs_draws: bool) -> None:
    """Refuse an output path we could not write, before any sampling is done."""
    if not path.endswith((".npz", ".nc")):
        raise CLIError(f"--out {path!r}: the file name must end in .npz or .nc")
    if path.endswith(".nc"):
        import importlib.util

        if importlib.util.find_spec("arviz") is None:
            raise CLIError("--out FILE.nc needs ArviZ (pip install arviz); or write .npz")
        if importlib.util.find_spec("h5netcdf") is None:
            raise CLIError("--out FILE.nc needs h5netcdf (pip install h5netcdf); or write .npz")
        if not needs_draws:
            raise CLIError("--out FILE.nc needs recorded draws, and this run records none "
                           "(sweeps must exceed warmup; diffusion needs --trajectories >= 1)")
    full = os.path.abspath(path)
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        raise CLIError(f"--out {path!r}: directory {parent} does not exist")
    if os.path.isdir(full):
        raise CLIError(f"--out {path!r} is a directory")
    existed = os.path.exists(full)
    try:
        with open(full, "ab"):
            pass
    except OSError as exc:
        raise CLIError(f"--out {path!r}: not writable ({exc.strerror or exc})") from None
    if not existed:
        try:
            os.remove(full)
        except OSError:
            pass
    if not os.access(parent, os.W_OK):  # writing goes through a temporary file next to it
        raise CLIError(f"--out {path!r}: directory {parent} is not writable")


def _resolve_preset(spec: str):
    from .presets import PRESET_DIR, PresetError, builtin_presets, load

    if not os.path.exists(spec) and os.sep not in spec and not spec.endswith(".json"):
        candidate = PRESET_DIR / f"{spec}.json"
        if candidate.is_file():
            spec = str(candidate)
    try:
        return load(spec), spec
    except PresetError as exc:
        msg = _one_line(exc)
        if not os.path.exists(spec):
            try:
                names = sorted(builtin_presets())
            except PresetError:
                names = []
            if names:
                msg += f"; built-in presets are {', '.join(names)}"
        raise CLIError(msg) from None


def _preset_target_path(target: str, preset_path: str) -> str:
    """A relative target file in a preset: as given if it exists, else next to the preset."""
    if (target.endswith(".py") or os.sep in target) and not os.path.isabs(target) and not os.path.exists(target):
        beside = os.path.join(os.path.dirname(os.path.abspath(preset_path)), target)
        if os.path.exists(beside):
            return beside
    return target


def _settings_error(exc, cli_fields: set) -> CLIError:
    """A SettingsError as one line, naming the flag when the bad value came from one."""
    msg = _one_line(exc)
    field = msg.split(" ", 1)[0]
    if field in cli_fields and field in FIELD_FLAGS:
        return CLIError(f"argument {FIELD_FLAGS[field]}: {msg}")
    return CLIError(msg)


# ---------------------------------------------------------------------------------- progress
class _Progress:
    """One status line on stderr (sweeps done, steps/s, ETA), shown once a run passes ``delay`` s.

    On a terminal it redraws in place with carriage returns; otherwise (a log file) it writes a
    full line every ``log_every`` seconds.
    """

    def __init__(self, total: int, stream=None, delay: float = 1.0, log_every: float = 10.0):
        self.total = max(int(total), 0)
        self.stream = stream or sys.stderr
        self.delay = delay
        self.log_every = log_every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.steps = 0
        self.t0 = time.perf_counter()
        self.t_first = None  # time and steps after the first sweep (compilation excluded from rates)
        self.steps_first = 0
        self.shown = False
        self._last_log = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mdhmc-progress", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def update(self, done: int, steps: int):
        self.done, self.steps = done, steps
        if self.t_first is None:
            self.t_first, self.steps_first = time.perf_counter(), steps

    def line(self) -> str:
        now = time.perf_counter()
        k, n = self.done, self.total
        if k == 0:
            return f"sweep 0/{n}  starting (numba compiles the kernels on first use)..."
        frac = k / n if n else 1.0
        width = 24
        bar = "#" * int(round(frac * width))
        text = f"sweep {k}/{n} [{bar:<{width}}] {100 * frac:3.0f}%"
        dt = now - self.t_first if self.t_first is not None else 0.0
        if k > 1 and dt > 0:
            rate = (self.steps - self.steps_first) / dt
            eta = (n - k) * dt / (k - 1)
            text += f"  {rate:,.0f} steps/s  ETA {_fmt_duration(eta)}"
        else:
            text += f"  elapsed {_fmt_duration(now - self.t0)}"
        return text

    def _emit(self, final: bool = False):
        text = self.line()
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            text = text[: max(cols - 1, 20)]
            self.stream.write("\r" + text.ljust(max(cols - 1, 20)) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def _loop(self):
        while not self._stop.wait(0.1 if self.tty else 0.5):
            now = time.perf_counter()
            if now - self.t0 < self.delay:
                continue
            if self.tty:
                self._emit()
            elif not self.shown or now - self._last_log >= self.log_every:
                self._last_log = now
                self._emit()

    def stop(self, completed: bool = True):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.shown:
            try:
                if completed:
                    self._emit(final=True)
                elif self.tty:
                    self.stream.write("\n")
                    self.stream.flush()
            except (OSError, ValueError):
                pass


def _fmt_duration(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


# ---------------------------------------------------------------------------------- targets
def cmd_targets(args) -> int:
    from mdhmc import targets
    from mdhmc.targets.builtin import DEFAULT_DIMS

    rows = []
    for name in targets.names():
        try:
            t = targets.get(name)
        except targets.TargetError as exc:
            raise CLIError(_one_line(exc), status=1) from None
        rows.append({
            "name": t.name, "dim": t.dim, "exact_draws": t.has_exact, "gradient": t.has_gradient,
            "components": len(t.component_weights) if t.is_mixture else 0,
            "dim_adjustable": name in DEFAULT_DIMS,
            "description": t.description,
        })
    if args.json:
        print(_dumps(rows))
        return 0
    head = ("name", "dim", "exact draws", "gradient", "components")
    table = [head] + [
        (r["name"], f"{r['dim']}{' (--target-dim)' if r['dim_adjustable'] else ''}", _yes(r["exact_draws"]),
         _yes(r["gradient"]), str(r["components"]) if r["components"] else "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


# ---------------------------------------------------------------------------------- run
def _resolve_run(args):
    """Preset + flags -> (target spec, target_dim, stage, Settings, preset path or None, notes)."""
    from .settings import Settings, SettingsError

    preset, preset_path = (None, None)
    if args.preset is not None:
        preset, preset_path = _resolve_preset(args.preset)

    # target and its dimension: the flag wins; the preset's target_dim only goes with its own target
    target_spec, target_dim = args.target, args.target_dim
    if target_spec is None and preset is not None and preset.get("target"):
        target_spec = _preset_target_path(preset["target"], preset_path)
        if target_dim is None:
            target_dim = preset.get("target_dim")
    elif target_spec is not None and preset is not None and preset.get("target") == target_spec and target_dim is None:
        target_dim = preset.get("target_dim")
    if target_spec is None:
        raise CLIError("--target is required (a built-in name, see 'mdhmc targets', or a FILE.py)"
                       + (f"; the preset {preset_path} names no target" if preset_path else ""))
    if target_dim is not None and target_dim < 1:
        raise CLIError(f"argument --target-dim: must be >= 1, got {target_dim}")

    stage = args.stage or (preset.get("stage") if preset is not None else None) or "pipeline"
    if stage not in STAGES:
        import difflib

        close = difflib.get_close_matches(stage, STAGES, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"argument --stage: unknown stage {stage!r}; stages are {', '.join(STAGES)}{hint}")

    base = Settings()
    if preset is not None:
        try:
            base = preset.apply(base)
        except SettingsError as exc:  # validated on load; kept for safety
            raise CLIError(f"{preset_path}: {_one_line(exc)}") from None
    changes = {FLAG_FIELDS[dest]: getattr(args, dest) for dest in FLAG_FIELDS if getattr(args, dest) is not None}
    notes = []
    # --sweeps below an inherited warm-up: scale the warm-up down (same 1/4 share as the defaults)
    if "sweeps" in changes and "warmup" not in changes and isinstance(changes["sweeps"], int) \
            and 0 <= changes["sweeps"] < base.warmup:
        changes["warmup"] = changes["sweeps"] // 4
        notes.append(f"warmup lowered from {base.warmup} to {changes['warmup']} to fit --sweeps {changes['sweeps']}")
    try:
        settings = base.replace(**changes)
    except SettingsError as exc:
        raise _settings_error(exc, set(changes)) from None
    return target_spec, target_dim, stage, settings, preset_path, notes


def _load_target(spec: str, dim):
    from mdhmc import targets

    try:
        t = targets.resolve(spec, dim)
    except targets.TargetError as exc:
        raise CLIError(_one_line(exc)) from None
    if dim is not None and t.dim != dim:
        raise CLIError(f"argument --target-dim: {spec} has dim {t.dim}; --target-dim {dim} does not apply")
    return t


def _set_threads(n):
    import numba

    if n is None:
        return numba.get_num_threads()
    hi = int(numba.config.NUMBA_NUM_THREADS)
    if not 1 <= n <= hi:
        raise CLIError(f"argument --threads: must be between 1 and {hi} (this machine's numba threads), got {n}")
    numba.set_num_threads(n)
    return n


def _records_draws(stage: str, s) -> bool:
    if stage == "diffusion":
        return s.diffusion_sweeps > 0
    return s.sweeps > s.warmup


def _report(t, sampler, stage, settings, result, threads, out_path, exact_n=20_000) -> dict:
    from . import diagnostics

    draws, final = result["draws"], result["final"]
    tot = result["totals"]
    rep = {
        "target": t.name,
        "target_source": t.source,
        "dim": t.dim,
        "stage": stage,
        "walkers": settings.walkers,
        "cold_walkers": int(final.shape[0]),
        "draws": int(draws.shape[0]),
        "sweeps": int(sampler.sweep_count),
        "lp_evals": int(tot.get("lp_evals", 0)),
        "grad_evals": int(tot.get("grad_evals", 0)),
        "steps": int(tot.get("steps", 0)),
        "wall_s": float(result["wall_s"]),
        "threads": threads,
        "seed": settings.seed,
    }
    summ = diagnostics.summary(t, draws, final, exact_n=exact_n)
    rep["mean"] = summ["mean"]
    rep["sd"] = summ["sd"]
    rep.update({
        "acceptance": result["acceptance"],
        "swap_acceptance": result["swap_acceptance"],
        "triggers": int(tot.get("triggers", 0)),
        "divergences": int(tot.get("divergences", 0)),
        "abandoned": int(tot.get("abandoned", 0)),
        "nonfinite": int(tot.get("nonfinite", 0)),
        "trimmed": int(tot.get("trimmed", 0)),
        "temperatures": result["temperatures"],
    })
    for key in ("ks_p", "sliced_w1", "mass_fractions", "exact_mass_fractions"):
        if key in summ:
            rep[key] = summ[key]
    if t.is_mixture:
        names = t.component_names or tuple(str(i) for i in range(len(t.component_weights)))
        rep["components"] = list(names)
    rep["settings"] = _settings_dict(settings)
    rep["out"] = out_path
    return rep


def _settings_dict(settings) -> dict:
    from .presets import dumps

    return json.loads(dumps(settings))["settings"]


def _preset_json(settings, target, stage, target_dim, name="") -> str:
    from .presets import dumps

    return dumps(settings, target=target, stage=stage, target_dim=target_dim, name=name)


def _write_out(path, t, stage, settings, result, report, preset_text):
    import numpy as np

    tmp = path + ".tmp-" + str(os.getpid()) + (".npz" if path.endswith(".npz") else ".nc")
    try:
        if path.endswith(".npz"):
            np.savez(
                tmp,
                final=result["final"],
                draws=result["draws"],
                lp=result["lp"],
                settings_json=np.array(json.dumps(_settings_dict(settings))),
                preset_json=np.array(preset_text),
                target=np.array(t.name),
                target_source=np.array(t.source),
                stage=np.array(stage),
                temperatures=np.asarray(result["temperatures"]),
                report_json=np.array(_dumps({k: v for k, v in report.items() if k != "settings"})),
            )
        else:
            import warnings

            import arviz as az

            draws = np.transpose(result["draws"], (1, 0, 2))  # (chain = walker, draw, dim)
            attrs = {
                "target": t.name,
                "target_source": t.source,
                "stage": stage,
                "settings_json": json.dumps(_settings_dict(settings)),
                "preset_json": preset_text,
                "inference_library": "mdhmc",
            }
            with warnings.catch_warnings():  # "more chains than draws" is expected: walkers are the chains
                warnings.simplefilter("ignore", UserWarning)
                idata = az.from_dict(posterior={"x": draws}, coords={"dim": np.arange(t.dim)}, dims={"x": ["dim"]},
                                     attrs=attrs)
            idata.posterior.attrs.update(attrs)  # on the group too, where xarray users look
            idata.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"--out {path!r}: could not write ({exc.strerror or exc})", status=1) from None
    finally:
        if os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return _yes(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}"
    return str(v)


def _fmt_vec(vals, labels=None, max_dims=10) -> str:
    vals = [None if (isinstance(v, float) and not math.isfinite(v)) else v for v in vals]
    if len(vals) <= max_dims:
        if labels:
            return "  ".join(f"{lab} {_fmt(v)}" for lab, v in zip(labels, vals))
        return "  ".join(_fmt(v) for v in vals)
    finite = [v for v in vals if v is not None]
    if not finite:
        return f"- ({len(vals)} dims)"
    return f"min {_fmt(min(finite))}  max {_fmt(max(finite))}  ({len(vals)} dims)"


def format_report(rep: dict) -> str:
    rows = [
        ("target", f"{rep['target']} ({rep['dim']}-D, {rep['target_source']})"),
        ("stage", rep["stage"]),
        ("walkers", f"{rep['walkers']:,} ({rep['cold_walkers']:,} cold)"),
        ("draws", f"{rep['draws']:,} per cold walker"),
        ("sweeps", _fmt(rep["sweeps"])),
        ("lp evals", _fmt(rep["lp_evals"])),
        ("steps", _fmt(rep["steps"])),
        ("wall", f"{rep['wall_s']:.2f} s on {rep['threads']} thread{'s' if rep['threads'] != 1 else ''}"),
        ("acceptance", _fmt(rep["acceptance"])),
        ("swap acceptance", _fmt(rep["swap_acceptance"])),
        ("triggers", _fmt(rep["triggers"])),
        ("divergences", _fmt(rep["divergences"])),
        ("abandoned", _fmt(rep["abandoned"])),
        ("mean", _fmt_vec(rep["mean"])),
        ("sd", _fmt_vec(rep["sd"])),
    ]
    if "ks_p" in rep:
        rows.append(("KS p vs exact", _fmt_vec(rep["ks_p"])))
        rows.append(("sliced W1", _fmt(rep["sliced_w1"])))
    if "mass_fractions" in rep:
        labels = rep.get("components")
        rows.append(("mass fractions", _fmt_vec(rep["mass_fractions"], labels)))
        if "exact_mass_fractions" in rep:
            rows.append(("exact fractions", _fmt_vec(rep["exact_mass_fractions"], labels)))
    if rep.get("out"):
        rows.append(("saved", rep["out"]))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)


def cmd_run(args) -> int:
    target_spec, target_dim, stage, settings, preset_path, notes = _resolve_run(args)
    quiet = args.json or args.quiet
    if args.out is not None:
        _check_out_path(args.out, _records_draws(stage, settings))
    threads = _set_threads(args.threads)
    t = _load_target(target_spec, target_dim)
    if stage == "hmc" and not t.has_gradient:
        raise CLIError(f"target {t.name!r} has no gradient (grad_log_density): exact HMC (--stage hmc) is not available")
    if settings.gradient == "exact" and stage in ("diffusion", "pipeline") and not t.has_gradient:
        raise CLIError(f"target {t.name!r} has no gradient: use the setting gradient 'spsa'")
    if settings.mass is not None and len(settings.mass) != t.dim:
        raise CLIError(f"mass has {len(settings.mass)} entries but target {t.name!r} has dim {t.dim}")
    if not args.quiet:
        for note in notes:
            print(f"mdhmc: note: {note}", file=sys.stderr)
    preset_text = _preset_json(settings, target_spec, stage, target_dim, name=f"mdhmc run ({t.name}, {stage})")
    if args.dry_run:
        print(json.dumps(json.loads(preset_text)) if args.json else preset_text)
        return 0

    from .pipeline import Sampler
    from .settings import SettingsError

    try:
        sampler = Sampler(t, settings, stage=stage)
    except SettingsError as exc:
        raise CLIError(_one_line(exc)) from None
    except ValueError as exc:  # e.g. a log density that is NaN at every starting point
        raise CLIError(_one_line(exc)) from None

    progress = None if quiet else _Progress(sampler.total_sweeps()).start()

    def on_sweep(k, n):
        if progress is not None:
            progress.update(k, sampler.totals.get("steps", 0))

    completed = False
    try:
        result = sampler.run(progress=on_sweep)
        completed = True
    finally:
        if progress is not None:
            progress.stop(completed)
    report = _report(t, sampler, stage, settings, result, threads, args.out)
    if args.out is not None:
        _write_out(args.out, t, stage, settings, result, report, preset_text)
    if args.json:
        print(_dumps(report))
    else:
        print(format_report(report))
    return 0


# ---------------------------------------------------------------------------------- serve
def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def dashboard_app() -> str:
    """The app file ``mdhmc serve`` serves: ``$MDHMC_DASHBOARD_APP`` if set, else dashboard/app.py."""
    return os.path.abspath(os.environ.get(APP_ENV) or DASHBOARD_APP)


def serve_command(port: int, show: bool, app: str | None = None) -> list[str]:
    """The ``panel serve`` command line that ``mdhmc serve`` executes."""
    cmd = [sys.executable, "-m", "panel", "serve", "--port", str(port)]
    if show:
        cmd.append("--show")
    cmd.append(app or dashboard_app())
    return cmd


def cmd_serve(args) -> int:
    if not 1 <= args.port <= 65535:
        raise CLIError(f"argument --port: must be between 1 and 65535, got {args.port}")
    files = [os.path.abspath(p) for p in args.target]
    if files:
        from mdhmc import targets

        for f in files:
            try:
                targets.load(f)
            except targets.TargetError as exc:
                raise CLIError(_one_line(exc)) from None
    app = dashboard_app()
    if not os.path.isfile(app):
        raise CLIError(f"the dashboard app {app} is missing (is this a complete mdhmc checkout?)", status=1)
    if not _port_free(args.port):
        raise CLIError(f"argument --port: port {args.port} is already in use")
    env = dict(os.environ)
    if files:
        env[TARGET_FILES_ENV] = os.pathsep.join(files)
    cmd = serve_command(args.port, not args.no_show, app)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)
    return 0  # not reached


# ---------------------------------------------------------------------------------- main
def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mdhmc")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mdhmc`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            print(f"mdhmc {_version()}")
            return 0
        if args.command is None:
            raise CLIError("a command is required: targets, run or serve (see 'mdhmc --help')")
        return {"targets": cmd_targets, "run": cmd_run, "serve": cmd_serve}[args.command](args)
    except CLIError as exc:
        print(f"mdhmc: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("mdhmc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mdhmc targets | head -1`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
