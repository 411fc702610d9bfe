"""The argument parser of ``mdhmc``; the setting flags of ``mdhmc run`` are generated from `SPEC`.

Every `Setting` becomes one flag spelled like its preset key (``--step_size``), which also
answers to the dashed form (``--step-size``) and to each of the setting's older names
(`Setting.aliases`: ``--gain``, ``--trajectories``, ``--thermostat-gain``), so that command lines
written for earlier versions keep working. A flag's value is parsed by the setting's ``kind``;
range checks are left to `Settings` so that a flag and a preset are held to the same rules.
A flag not given is absent from the parsed namespace (so a preset's value is kept), and
``args.typed_flags`` maps each setting given to the spelling the user typed, for error messages.
"""

from __future__ import annotations

import argparse
import difflib
import math

from ..settings import GROUPS, SPEC, STAGES, Setting
from .errors import CLIError

__all__ = ["build_parser", "setting_flags", "setting_changes", "parse_value", "TARGET_FILES_ENV", "APP_ENV"]

TARGET_FILES_ENV = "MDHMC_TARGET_FILES"
MAX_SESSIONS_ENV = "MDHMC_MAX_SESSIONS"  # read by the dashboard app (its session cap)
APP_ENV = "MDHMC_DASHBOARD_APP"  # serve another Panel app file instead (tests, custom dashboards)
TARGET_DIM_FLAGS = ("--target_dim", "--target-dim")  # the preset's top-level key target_dim


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block, no traceback
        raise CLIError(f"{message} (see '{self.prog} --help')")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, with a close match suggested for a mistyped flag of the command."""
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            message = f"unrecognized arguments: {' '.join(extras)}"
            command = self._subcommands().get(getattr(args, "command", None))
            flag = next((e.split("=", 1)[0] for e in extras if e.startswith("--")), None)
            if command is not None and flag is not None:
                known = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
                close = difflib.get_close_matches(flag, known, n=1, cutoff=0.7)
                if close:
                    message += f"; did you mean {close[0]}?"
            raise CLIError(f"{message} (see '{(command or self).prog} --help')")
        return args

    def _subcommands(self) -> dict:
        return next((a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), {})


# ---------------------------------------------------------------------------------- values
def parse_int(text: str) -> int:
    """A whole number; ``1e3`` and ``2000.0`` are accepted (1000, 2000)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if not v.is_integer():
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(v)


def parse_float(text: str) -> float:
    """A number; ``inf`` parses (the setting decides if it may be infinite), NaN is refused."""
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if math.isnan(v):
        raise ValueError(f"expected a number, got {text!r}")
    return v


def parse_value(s: Setting, text: str):
    """The value of setting ``s`` written as ``text`` on the command line (raises ValueError)."""
    if s.nullable and text.strip().lower() == "auto":
        return None
    if s.kind == "int":
        return parse_int(text)
    if s.kind == "float":
        return parse_float(text)
    if s.kind == "choice":
        if text not in s.choices:
            close = difflib.get_close_matches(text, s.choices, n=1, cutoff=0.5)
            raise ValueError(f"invalid choice {text!r} (choose from {', '.join(s.choices)})"
                             + (f"; did you mean {close[0]!r}?" if close else ""))
        return text
    if s.kind == "floats":
        if text.strip().lower() == "none":
            return None
        try:
            return tuple(parse_float(x) for x in text.split(","))
        except ValueError:
            raise ValueError(f"expected comma-separated numbers (1,2.5,1) or none, got {text!r}") from None
    raise AssertionError(f"no parser for kind {s.kind!r}")  # bool flags take no value


class _ValueAction(argparse.Action):
    """Stores the converted value and the spelling typed (``namespace.typed_flags``)."""

    def __init__(self, option_strings, dest, convert=None, setting: Setting | None = None, **kw):
        self.convert, self.setting = convert, setting
        super().__init__(option_strings, dest, default=argparse.SUPPRESS,
                         nargs=0 if setting is not None and setting.kind == "bool" else None, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        if self.nargs == 0:  # --name / --no-name
            value = not option_string.startswith("--no-")
        else:
            try:
                value = self.convert(values)
            except ValueError as exc:
                raise argparse.ArgumentError(None, f"argument {option_string}: {exc}") from None
        typed = getattr(namespace, "typed_flags", None) or {}
        earlier = typed.get(self.dest)
        if earlier is not None and _spelled(earlier) != _spelled(option_string):  # e.g. --gain and --viscosity_gain
            raise argparse.ArgumentError(None, f"argument {option_string}: {self.dest} is already given as {earlier}")
        setattr(namespace, self.dest, value)
        namespace.typed_flags = {**typed, self.dest: option_string}


def _spelled(flag: str) -> str:
    """A flag's name regardless of dashes and a ``--no-`` prefix (--no-naive-swap -> naive_swap)."""
    name = flag[2:]
    return (name[3:] if name.startswith("no-") else name).replace("-", "_")


# ---------------------------------------------------------------------------------- help
def setting_flags(s: Setting) -> list[str]:
    """Every spelling of the flag of ``s``: its name (= preset key) first, then the dashed form,
    then its aliases (each also dashed); a bool setting also gets ``--no-...`` forms."""
    out: list[str] = []
    for n in (s.name, *s.aliases):
        for spelling in (n, n.replace("_", "-")):
            if "--" + spelling not in out:
                out.append("--" + spelling)
    if s.kind == "bool":
        out += ["--no-" + f[2:] for f in out]
    return out


def _num(v) -> str:
    """A bound or default as one types it: 0.05, 1e6, inf."""
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, int) and abs(v) >= 10**6 and str(v).rstrip("0") in ("1", "-1"):
        return f"{v:.0e}".replace("e+0", "e").replace("e+", "e")
    return f"{v:g}".replace("e+0", "e").replace("e+", "e") if isinstance(v, float) else str(v)


def default_text(s: Setting) -> str:
    if s.default is None:
        return "auto" if s.nullable else "none"
    if s.kind == "bool":
        return "true" if s.default else "false"
    return _num(s.default)


def range_text(s: Setting) -> str:
    """The allowed values of ``s`` in words, e.g. ``(0, 100]`` or ``one of spsa, exact``."""
    if s.kind == "choice":
        return "one of " + ", ".join(s.choices)
    if s.kind == "bool":
        return "true or false"
    if s.kind == "floats":
        return "positive numbers, one per dimension"
    lo, hi = s.bounds
    if lo is None and hi is None:
        return "any number"
    left = "(" if s.lo_open else "["
    if hi is None:
        right = "inf]" if s.allow_inf else "inf)"
        return f"{left}{_num(lo)}, {right}"
    return f"{left}{'-inf' if lo is None else _num(lo)}, {_num(hi)}]"


def _metavar(s: Setting) -> str | None:
    base = {"int": "N", "float": "X", "choice": "{" + ",".join(s.choices) + "}", "floats": "X,X,...|none",
            "bool": None}[s.kind]
    return base + "|auto" if s.nullable else base


def _help(s: Setting) -> str:
    text = f"{s.doc}. Default {default_text(s)}; {range_text(s)}; acts in {s.where()}."
    aliases = [f for f in setting_flags(s)[1:] if not f.startswith("--no-") and f != "--" + s.name.replace("_", "-")]
    if s.kind == "bool":
        text = f"{s.doc}. Default {default_text(s)}; acts in {s.where()}."
    if aliases:
        text += " Also " + ", ".join(aliases) + "."
    return text.replace("%", "%%")


class _HelpFormatter(argparse.HelpFormatter):
    """Shows a setting flag by its primary spelling only (the others are listed in its help)."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=34)

    def _format_action_invocation(self, action):
        if isinstance(action, _ValueAction) and action.option_strings:
            first = action.option_strings[0]
            if action.nargs == 0:
                return f"{first}, --no-{first[2:]}"
            return f"{first} {action.metavar}"
        return super()._format_action_invocation(action)


# ---------------------------------------------------------------------------------- parser
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

    _add_run(sub)

    s = sub.add_parser(
        "serve", help="start the dashboard",
        description=f"Start the Panel dashboard (panel serve on mdhmc/dashboard/app.py). Extra target files are "
        f"checked here, then passed to the app in ${TARGET_FILES_ENV}.",
    )
    s.add_argument("--port", type=_typed(parse_int), default=5006, metavar="N", help="port to listen on (default 5006)")
    s.add_argument("--address", default="localhost", metavar="HOST",
                   help="address to listen on (default localhost: this machine only); e.g. 0.0.0.0 opens the "
                   "dashboard to the network (anyone who can reach the port can use it)")
    s.add_argument("--no-show", action="store_true", help="do not open a browser")
    s.add_argument("--max-sessions", type=_typed(parse_int), default=None, metavar="N",
                   help=f"pages served at once; the next one is told the server is full (default "
                   f"${MAX_SESSIONS_ENV} or 24)")
    s.add_argument("--target", action="extend", nargs="+", default=[], metavar="FILE.py",
                   help="extra target file(s) to offer in the dashboard's target list")
    return p


def _typed(convert):
    """An argparse ``type`` from a converter raising ValueError (argparse names the flag)."""
    def typ(text):
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return typ


def _add_run(sub) -> None:
    r = sub.add_parser(
        "run", help="run a stage or the whole pipeline and report", formatter_class=_HelpFormatter,
        usage="mdhmc run [--target NAME|FILE.py] [--preset NAME|FILE.json] [--stage STAGE] [--SETTING VALUE ...]\n"
              "                 [--threads N] [--out FILE.npz|FILE.nc] [--keep N] [--json] [--quiet] [--dry-run]\n"
              "                 [--debug] [--dask local:N|tcp://HOST:PORT] [--specialise auto|on|off]",
        description="Run a stage (or the pipeline: diffusion -> trim -> tempering) headless and report "
        "accuracy and cost. Precedence: built-in defaults < --preset < flags on the command line. "
        "Each setting flag is spelled like its key in a preset file; dashes may replace underscores "
        "(--step-size = --step_size).",
        epilog="Example: mdhmc run --preset seed-scorpio --walkers 2000 --out run.nc",
    )
    g = r.add_argument_group("what to run")
    g.add_argument("--target", metavar="NAME|FILE.py",
                   help="built-in target name (see 'mdhmc targets') or a Python target file; "
                   "required unless the preset names one")
    g.add_argument(*TARGET_DIM_FLAGS, dest="target_dim", action=_ValueAction, convert=parse_int, metavar="N",
                   help="dimension of the n-D targets (funnel, stiff-wells). Also --target-dim.")
    g.add_argument("--stage", metavar="STAGE",
                   help=f"one of {', '.join(STAGES)} (default: the preset's, else pipeline)")
    g.add_argument("--preset", metavar="NAME|FILE.json",
                   help="preset file, or the name of a built-in preset (e.g. seed-scorpio)")
    for group, title in GROUPS.items():
        k = r.add_argument_group(f"{title} settings")
        for s in SPEC:
            if s.group == group:
                k.add_argument(*setting_flags(s), dest=s.name, action=_ValueAction, setting=s,
                               convert=lambda text, s=s: parse_value(s, text), metavar=_metavar(s), help=_help(s))
    o = r.add_argument_group("execution and output")
    o.add_argument("--threads", type=_typed(parse_int), metavar="N", help="numba threads (default: all cores)")
    o.add_argument("--out", metavar="FILE.npz|FILE.nc",
                   help=".npz: arrays final, draws, lp and the settings; .nc: ArviZ InferenceData (walkers as chains)")
    o.add_argument("--json", action="store_true",
                   help="print the report as one JSON object (last line of stdout); no progress bar")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no notes on stderr")
    o.add_argument("--keep", type=_typed(parse_int), metavar="N",
                   help="keep only the last N recorded sweeps (default: all; a run whose draws would not fit "
                   "in memory is refused up front and names the N that fits)")
    o.add_argument("--dry-run", action="store_true",
                   help="check everything, print the resolved run as preset JSON and exit without sampling")
    o.add_argument("--debug", action="store_true",
                   help="on a log density that raises, print its traceback too")
    o.add_argument("--specialise", choices=("auto", "on", "off"), default="auto",
                   help="compile the 2-D diffusion path with the target inlined, in the background, and switch "
                   "to it when ready (same draws, 13-17%% more steps/s; a 10-20 s compile per process). auto: for "
                   "2-D runs of at least 1e9 diffusion steps (walkers x steps x diffusion sweeps)")
    o.add_argument("--dask", metavar="local:N|tcp://HOST:PORT",
                   help="run the diffusion sweeps' walkers in blocks on Dask workers: a LocalCluster of N worker "
                   "processes, or a running scheduler (same draws; the exact moves run here)")


def setting_changes(args) -> dict:
    """The settings given as flags: {setting name: value}."""
    return {s.name: getattr(args, s.name) for s in SPEC if hasattr(args, s.name)}


def typed_flag(args, name: str) -> str | None:
    """The spelling the user typed for ``name`` (a setting or target_dim), if given."""
    return (getattr(args, "typed_flags", None) or {}).get(name)
