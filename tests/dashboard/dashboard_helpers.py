"""Helpers shared by the dashboard tests and `benchmarks/dashboard_updates.py`: user target
files, a ``panel serve dashboard/app.py`` subprocess, and Chromium's location and flags."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("MDHMC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]

RAISER = '''
"""A target whose log density raises outside |x0| < 5 (the dashboard's error tests)."""
name = "raiser"
dim = 2
bounds = ((-3.0, 3.0), (-3.0, 3.0))


def log_density(x):
    if x[0] > 5.0 or x[0] < -5.0:
        raise ValueError("x0 left the model's domain")
    return -0.5 * (x[0] * x[0] + x[1] * x[1])
'''

BROKEN = '''
name = "broken"
dim = 2


def log_density(x):
    return undefined_name(x)
'''


def write_target_files(folder: Path) -> tuple[Path, Path]:
    """A working user target (raiser.py, raises outside |x0| < 5) and a broken one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "raiser.py"
    bad = folder / "broken_target.py"
    good.write_text(textwrap.dedent(RAISER).lstrip())
    bad.write_text(textwrap.dedent(BROKEN).lstrip())
    return good, bad


def browser_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


class Server:
    """A running ``panel serve`` subprocess; its output goes to ``log_path``."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc, self.port, self.log_path = proc, port, Path(log_path)
        self.url = f"http://127.0.0.1:{port}/app"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        """Resident memory of the server process (MiB), from /proc."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def start_server(log_path: Path, target_paths=(), warm: str = "scorpio,funnel", extra_args=(),
                 timeout: float = 420, session_lifetime_ms: int = 10000) -> Server:
    """``panel serve dashboard/app.py --warm`` on a free port, kernels for ``warm`` compiled
    before it listens. A session is dropped ``session_lifetime_ms`` after its page closes --
    and also if its page has not connected by then, so keep it above a slow page load."""
    port = free_port()
    env = dict(os.environ, MDHMC_WARM_TARGETS=warm, MDHMC_WARM_BLOCKING="1",
               MDHMC_TARGET_FILES=os.pathsep.join(str(p) for p in target_paths), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "panel", "serve", str(REPO / "dashboard" / "app.py"), "--port", str(port),
           "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}", "--warm",
           "--check-unused-sessions", "500", "--unused-session-lifetime", str(session_lifetime_ms), *extra_args]
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, port, log_path)
    try:
        wait_http(server.url, timeout, proc)
    except Exception:
        proc.kill()
        raise RuntimeError(f"dashboard server did not start:\n{server.log()[-3000:]}") from None
    return server


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)
