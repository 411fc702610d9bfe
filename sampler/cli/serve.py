"""``mdhmc serve``: check extra target files, then hand the process over to ``panel serve``."""

from __future__ import annotations

import importlib.util
import os
import sys

from .errors import CLIError, one_line
from .parser import APP_ENV, TARGET_FILES_ENV

__all__ = ["cmd_serve", "dashboard_app", "serve_command"]


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def _installed_app() -> str:
    """app.py of the package ``mdhmc.dashboard``, wherever it is installed (checkout or wheel);
    found without importing the dashboard (and Panel) into this process."""
    spec = importlib.util.find_spec("mdhmc.dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise CLIError("the package mdhmc.dashboard is not installed (pip install mdhmc)", status=1)
    return os.path.join(list(spec.submodule_search_locations)[0], "app.py")


def dashboard_app() -> str:
    """The app file ``mdhmc serve`` serves: ``$MDHMC_DASHBOARD_APP`` if set, else mdhmc/dashboard/app.py."""
    return os.path.abspath(os.environ.get(APP_ENV) or _installed_app())


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
                raise CLIError(one_line(exc)) from None
    app = dashboard_app()
    if not os.path.isfile(app):
        raise CLIError(f"the dashboard app {app} is missing (is mdhmc completely installed?)", status=1)
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
