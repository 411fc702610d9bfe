"""mdhmc as a user installs it: build the wheel, install it into a fresh virtual environment and
use the ``mdhmc`` command from a folder outside the checkout.

The venv sees the system's site-packages (numba, Panel, ArviZ come from there), which may also
hold an editable install of a checkout: so every module is checked to come from the venv, never
from a checkout. Slow: building, a fresh venv and three commands take about a minute.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = {"sampler": "mdhmc/sampler", "targets": "mdhmc/targets", "dashboard": "mdhmc/dashboard"}
NOT_COPIED = shutil.ignore_patterns(".git", ".numba-cache", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", "test-artifacts", "*.nbi", "*.nbc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout (building leaves build/ behind in its source)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=NOT_COPIED)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(tmp / "dist")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    [whl] = (tmp / "dist").glob("mdhmc-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv (system site-packages visible) with the wheel installed."""
    d = tmp_path_factory.mktemp("venv") / "venv"
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(d)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(d / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return d


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> tuple[Path, dict]:
    """A working folder outside the checkout and an environment that does not point into it."""
    work = tmp_path_factory.mktemp("user")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MDHMC_DASHBOARD_APP", "MDHMC_TARGET_FILES")}
    env["NUMBA_CACHE_DIR"] = str(work / ".numba-cache")
    env.setdefault("NUMBA_NUM_THREADS", "2")
    return work, env


def site_packages(venv: Path) -> Path:
    [sp] = (venv / "lib").glob("python*/site-packages")
    return sp


def run(venv, outside, *cmd, timeout=600) -> subprocess.CompletedProcess:
    work, env = outside
    exe = venv / "bin" / cmd[0]
    r = subprocess.run([str(exe), *cmd[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_wheel_holds_the_mdhmc_package_only_and_all_of_it(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    [dist_info] = [t for t in tops if t.endswith(".dist-info")]
    assert tops == {"mdhmc", dist_info}
    shipped = {n for n in names if n.startswith("mdhmc/")}
    for folder, package in SOURCE_DIRS.items():
        for f in (REPO / folder).rglob("*.py"):
            assert f"{package}/{f.relative_to(REPO / folder).as_posix()}" in shipped, f
    presets = {n.rsplit("/", 1)[1] for n in shipped if n.startswith("mdhmc/presets/")}
    assert presets == {p.name for p in (REPO / "presets").glob("*.json")} and "seed-scorpio.json" in presets
    assert all(n.endswith((".py", ".json")) for n in shipped), sorted(n for n in shipped if not n.endswith(".py"))
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "mdhmc = mdhmc.sampler.cli:main" in entry_points


PROBE = """
import importlib.util, json, zipfile, sys
names = [n[:-3].replace("/", ".").removesuffix(".__init__") for n in zipfile.ZipFile(sys.argv[1]).namelist()
         if n.startswith("mdhmc/") and n.endswith(".py")]
from mdhmc.sampler import presets
from mdhmc.sampler.cli.serve import dashboard_app
print(json.dumps({"origins": {n: importlib.util.find_spec(n).origin for n in names},
                  "presets": sorted(presets.builtin_presets()), "app": dashboard_app()}))
"""


def test_every_module_presets_and_the_app_come_from_the_venv(venv, wheel, outside):
    out = json.loads(run(venv, outside, "python", "-c", PROBE, str(wheel)).stdout)
    sp = str(site_packages(venv)) + os.sep
    assert len(out["origins"]) > 20
    for name, origin in out["origins"].items():
        assert origin and origin.startswith(sp), (name, origin)
    assert out["app"] == sp + os.path.join("mdhmc", "dashboard", "app.py")
    assert out["presets"] == sorted(p.stem for p in (REPO / "presets").glob("*.json"))


def test_mdhmc_targets_and_version(venv, outside):
    table = run(venv, outside, "mdhmc", "targets").stdout.splitlines()
    assert table[0].split()[:2] == ["name", "dim"]
    assert "scorpio" in [ln.split()[0] for ln in table[1:]]
    assert run(venv, outside, "mdhmc", "--version").stdout.strip() == "mdhmc " + wheel_version(venv)


def wheel_version(venv) -> str:
    [d] = site_packages(venv).glob("mdhmc-*.dist-info")
    return d.name[len("mdhmc-"):-len(".dist-info")]


def test_mdhmc_run_with_a_builtin_preset(venv, outside):
    r = run(venv, outside, "mdhmc", "run", "--preset", "seed-scorpio", "--walkers", "100", "--steps", "50",
            "--sweeps", "20", "--warmup", "5", "--json")
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["target"] == "scorpio" and rep["stage"] == "pipeline" and rep["walkers"] == 100
    assert rep["draws"] == 15 and rep["settings"]["step_size"] == 0.002  # the preset's, flags on top
    assert len(rep["mean"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mdhmc_serve_answers_with_the_dashboard(venv, outside):
    work, env = outside
    port = _free_port()
    proc = subprocess.Popen([str(venv / "bin" / "mdhmc"), "serve", "--no-show", "--port", str(port)], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mdhmc serve exited {proc.returncode}: {proc.stdout.read()[-3000:]}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request("GET", "/app")
                resp = conn.getresponse()
                status, page = resp.status, resp.read().decode("utf-8", "replace")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("mdhmc serve did not answer")
                time.sleep(0.5)
            finally:
                conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert status == 200
    assert "<title>mdhmc" in page
