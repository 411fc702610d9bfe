"""``mdhmc serve``: check extra target files, then hand the process over to ``panel serve``."""

from __future__ import annotations

import errno
import importlib.util
import os
import sys

from .errors import CLIError, one_line
from .parser import APP_ENV, MAX_SESSIONS_ENV, TARGET_FILES_ENV

__all__ = ["cmd_serve", "dashboard_app", "serve_command"]


#: addresses that listen on every interface of the machine
ANY_ADDRESS = ("0.0.0.0", "::")


def _port_free(address: str, port: int) -> bool:
    """Whether ``address:port`` can be listened on (raises `CLIError` for an unknown address)."""
    import socket

    host = "" if address in ANY_ADDRESS else address
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CLIError(f"argument --address: {address!r} is not an address of this machine ({exc.strerror})") from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise CLIError(f"argument --address: {address!r} is not an address of this machine") from None
            return False
    return True


def websocket_origins(address: str, port: int) -> list[str]:
    """Browser origins the dashboard accepts: this machine by default; any host that reaches
    the port when it listens on every interface (the lecturer opened it to the room)."""
    if address in ANY_ADDRESS:
        return [f"*:{port}"]
    return sorted({f"localhost:{port}", f"{address}:{port}"})


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


def serve_command(port: int, show: bool, app: str | None = None, address: str = "localhost") -> list[str]:
    """The ``panel serve`` command line that ``mdhmc serve`` executes (listening on ``address``
    only: Bokeh alone would listen on every interface)."""
    cmd = [sys.executable, "-m", "panel", "serve", "--port", str(port), "--address", address]
    for origin in websocket_origins(address, port):
        cmd += ["--allow-websocket-origin", origin]
    if show:
        cmd.append("--show")
    # run the app once before listening: it compiles (or loads from numba's cache) the kernels,
    # so the first page does not wait on a blank tab for the compiler
    cmd.append("--warm")
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
    if args.max_sessions is not None and args.max_sessions < 1:
        raise CLIError(f"argument --max-sessions: must be at least 1, got {args.max_sessions}")
    app = dashboard_app()
    if not os.path.isfile(app):
        raise CLIError(f"the dashboard app {app} is missing (is mdhmc completely installed?)", status=1)
    address = args.address.strip() or "localhost"
    if not _port_free(address, args.port):
        raise CLIError(f"argument --port: port {args.port} is already in use")
    env = dict(os.environ)
    if files:
        env[TARGET_FILES_ENV] = os.pathsep.join(files)
    if args.max_sessions is not None:
        env[MAX_SESSIONS_ENV] = str(args.max_sessions)
    cmd = serve_command(args.port, not args.no_show, app, address)
    print(f"mdhmc: compiling the sampler kernels before the first page (about a minute the first time, "
          f"seconds once numba's cache holds them); then serving on http://{address}:{args.port}/", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)
    return 0  # not reached
