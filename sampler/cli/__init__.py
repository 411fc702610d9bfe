"""The ``mdhmc`` command line: list targets, run a stage or the pipeline headless, serve the dashboard.

::

    mdhmc targets [--json]
    mdhmc run [--target NAME|FILE.py] [--stage STAGE] [--preset NAME|FILE.json] [--SETTING VALUE ...]
              [--out FILE.npz|FILE.nc] [--json]
    mdhmc serve [--port N] [--address HOST] [--no-show] [--target FILE.py ...]

``mdhmc run`` has one flag per setting of `mdhmc.sampler.settings.SPEC`, spelled like the
setting's preset key (``--step_size``; also ``--step-size`` and older names such as ``--gain``):
see `parser`. Settings come from three layers, later ones winning: `Settings` defaults <
``--preset`` < flags given on the command line. Bad input (unknown target, broken target file,
a value out of range, an unreadable preset, an unwritable output path, a run too big for this
machine's memory, a log density that raises ...) exits with status 2 and one line
``mdhmc: error: ...`` on stderr (``--debug`` adds the traceback of a raising log density);
Ctrl-C exits with 130 within about a second. A run stopped by either saves what it recorded to
``--out``, marked partial (see `run`).

``mdhmc serve`` runs ``python -m panel serve`` on the installed ``mdhmc/dashboard/app.py`` (or
the app file named in ``MDHMC_DASHBOARD_APP``); extra target files are loaded once here, so
that a broken one is refused with its `TargetError` sentence, then reach the dashboard through
the environment variable ``MDHMC_TARGET_FILES`` (absolute paths joined with ``os.pathsep``;
without ``--target`` the variable is passed on as inherited).

Modules: `parser` (flags from SPEC), `run`, `report`, `progress`, `serve`, `list_targets`;
saving a run is `mdhmc.sampler.io`, usable without the command line.
"""

from __future__ import annotations

import os
import sys

from .errors import CLIError
from .parser import APP_ENV, TARGET_FILES_ENV, build_parser
from .report import format_report

__all__ = ["main", "build_parser", "format_report", "CLIError", "TARGET_FILES_ENV", "APP_ENV"]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mdhmc")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mdhmc`` console script; returns the exit status."""
    from .list_targets import cmd_targets
    from .run import cmd_run
    from .serve import cmd_serve

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
        print(f"mdhmc: {exc.kind}: {exc}", file=sys.stderr)
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
