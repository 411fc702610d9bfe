"""What ``mdhmc run`` does with a faulty density, Ctrl-C, a run too big for memory, a full disk."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from cli_helpers import REPO, mdhmc_cmd, run_mdhmc
from mdhmc.sampler.cli import main

# raises in a thin band that walkers cross now and then: some sweeps are recorded first
BAND = """
    dim = 2
    bounds = [(-3.0, 3.0), (-3.0, 3.0)]
    def log_density(x):
        if 1.0 < x[0] < 1.002:
            raise ValueError("bad region")
        return -0.5 * (x[0] ** 2 + x[1] ** 2)
"""
# raises far out, where the first, wide proposals go: the run fails before recording anything
FAR = """
    dim = 2
    bounds = [(-3.0, 3.0), (-3.0, 3.0)]
    def log_density(x):
        if x[0] > 9.0:
            raise ValueError("bad region")
        return -0.5 * ((x[0] / 3) ** 2 + x[1] ** 2)
"""
# about a millisecond per call: one sweep of 400 walkers takes minutes
SLOW = """
    dim = 2
    def log_density(x):
        s = 0.0
        for k in range(1000000):
            s += 1e-9 * k
        return -0.5 * (x[0] ** 2 + x[1] ** 2) + 0.0 * s
"""


@pytest.fixture
def target_file(tmp_path):
    def make(name, text):
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(p)
    return make


def run_main(capsys, *argv):
    rc = main(["run", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_raising_density_stops_with_one_line_and_saves_the_draws_marked_partial(target_file, tmp_path, capsys):
    out = tmp_path / "run.npz"
    # random-walk moves (--moves rwm): with seed 1 they first hit the band after warm-up (sweep 45),
    # so there are draws to save (the default seed now hits it in warm-up, at sweep 8: "nothing
    # recorded yet"; the default DE mix does too)
    rc, _, err = run_main(capsys, "--target", target_file("band.py", BAND), "--stage", "metropolis", "--walkers", "100",
                          "--sweeps", "400", "--warmup", "10", "--moves", "rwm", "--seed", "1", "--out", str(out),
                          "--quiet")
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mdhmc: error: log_density in band.py raised ValueError('bad region') at x = [1.00")
    saved = np.load(out)
    assert bool(saved["partial"]) and 10 < int(saved["sweeps_completed"]) < 400
    assert saved["draws"].shape[0] == int(saved["sweeps_completed"]) - 10
    assert f"{saved['draws'].shape[0]} recorded sweeps saved to {out} (marked partial)" in err


def test_debug_adds_the_traceback_of_the_density(target_file, capsys):
    rc, _, err = run_main(capsys, "--target", target_file("far.py", FAR), "--stage", "metropolis", "--walkers", "100",
                          "--sweeps", "40", "--quiet", "--debug")
    assert rc == 2 and "Traceback" in err and 'raise ValueError("bad region")' in err
    assert err.splitlines()[-1].startswith("mdhmc: error: log_density in far.py raised ValueError('bad region')")


def test_a_run_failing_before_any_draw_leaves_an_existing_file_alone(target_file, tmp_path, capsys):
    out = tmp_path / "keep-me.npz"
    out.write_bytes(b"previous run")
    rc, _, err = run_main(capsys, "--target", target_file("far.py", FAR), "--stage", "metropolis", "--walkers", "100",
                          "--sweeps", "40", "--out", str(out), "--quiet")
    assert rc == 2 and "nothing recorded yet" in err and out.read_bytes() == b"previous run"


def test_ctrl_c_mid_sweep_exits_130_with_one_line_long_before_the_sweep_ends(target_file, tmp_path):
    out = tmp_path / "keep-me.npz"
    out.write_bytes(b"previous run")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = mdhmc_cmd("run", "--target", target_file("slow.py", SLOW), "--stage", "diffusion", "--walkers", "400",
                    "--diffusion_sweeps", "2", "--steps", "100", "--out", str(out))
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = p.stderr.readline()  # the progress line: the sampler is built and sampling
    assert first.startswith("sweep 0/2"), first
    time.sleep(1.0)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        rest = p.communicate(timeout=60)[1]  # a sweep takes minutes: waiting for it would time out
    finally:
        p.kill()
    waited = time.monotonic() - t0
    assert p.returncode == 130, rest
    lines = [ln for ln in rest.splitlines() if not ln.startswith("sweep ")]
    assert lines == [f"mdhmc: interrupted: after 0 of 2 sweeps; nothing recorded yet, {out} not written"]
    assert out.read_bytes() == b"previous run"
    print(f"exit {waited:.2f} s after SIGINT")


def test_ctrl_c_after_some_sweeps_saves_them_marked_partial(tmp_path, capsys, monkeypatch):
    from mdhmc.sampler.pipeline import Sampler

    sweep = Sampler.sweep

    def interrupted_at_sweep_8(self, should_stop=None):
        if self.sweep_count == 8:
            raise KeyboardInterrupt
        return sweep(self, should_stop)

    monkeypatch.setattr(Sampler, "sweep", interrupted_at_sweep_8)
    out = tmp_path / "run.npz"
    rc, _, err = run_main(capsys, "--target", "scorpio", "--stage", "metropolis", "--walkers", "40", "--sweeps", "20",
                          "--warmup", "5", "--out", str(out), "--quiet")
    assert rc == 130
    assert err == f"mdhmc: interrupted: after 8 of 20 sweeps; 3 recorded sweeps saved to {out} (marked partial)\n"
    saved = np.load(out)
    assert bool(saved["partial"]) and int(saved["sweeps_completed"]) == 8 and saved["draws"].shape == (3, 40, 2)


def test_a_complete_run_is_not_marked_partial(tmp_path, capsys):
    out = tmp_path / "run.npz"
    rc, stdout, _ = run_main(capsys, "--target", "scorpio", "--stage", "metropolis", "--walkers", "40", "--sweeps", "20",
                             "--warmup", "5", "--out", str(out), "--quiet")
    assert rc == 0 and not bool(np.load(out)["partial"]) and int(np.load(out)["sweeps_completed"]) == 20
    assert "non-finite" in stdout


BIG = ["--target", "scorpio", "--stage", "metropolis", "--walkers", "20000", "--sweeps", "1200", "--warmup", "100"]


@pytest.mark.parametrize("dry", [False, True])
def test_a_run_over_the_memory_budget_is_refused_up_front_naming_keep(monkeypatch, capsys, dry):
    from mdhmc.sampler.cli import budget

    monkeypatch.setattr(budget, "memory_budget", lambda: 100 * 2**20)
    rc, out, err = run_main(capsys, *BIG, *(["--dry-run"] if dry else []))
    assert rc == 2 and out == ""
    assert err.startswith("mdhmc: error: this run would record 1,100 sweeps x 20,000 cold walkers x 2 dims = 335.7 MiB")
    assert "--keep 157," in err  # (100 MiB - 4.2 MB of ensemble) / (20,000 walkers x 2 dims x 8 B x 2)


def test_keep_records_the_last_sweeps_and_the_report_says_so(tmp_path, capsys):
    out = tmp_path / "run.npz"
    rc, stdout, _ = run_main(capsys, "--target", "scorpio", "--stage", "metropolis", "--walkers", "40", "--sweeps", "30",
                             "--warmup", "5", "--keep", "7", "--out", str(out), "--quiet")
    assert rc == 0 and np.load(out)["draws"].shape == (7, 40, 2)
    assert "the last 7 of 25 recorded sweeps (--keep)" in stdout


def test_dry_run_refuses_what_the_run_refuses(capsys):
    # (rungs = auto fits the ladder to the walkers: two fixed rungs need four)
    dry = run_main(capsys, "--target", "scorpio", "--walkers", "2", "--rungs", "2", "--dry-run")
    run = run_main(capsys, "--target", "scorpio", "--walkers", "2", "--rungs", "2")
    assert dry[0] == run[0] == 2 and dry[2] == run[2] and "needs at least" in dry[2]


def test_working_memory_over_the_budget_is_refused(monkeypatch, capsys):
    from mdhmc.sampler.cli import budget

    monkeypatch.setattr(budget, "memory_budget", lambda: 2**20)
    rc, _, err = run_main(capsys, "--target", "scorpio", "--walkers", "100000", "--dry-run")
    assert rc == 2 and err.startswith("mdhmc: error: --walkers 100,000 x 2 dims needs about") and "fewer walkers" in err


@pytest.mark.parametrize("suffix", [".npz", ".nc"])
def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch, suffix):
    from mdhmc.sampler import io

    if suffix == ".nc":
        pytest.importorskip("arviz")
        pytest.importorskip("h5netcdf")

    def full(path, write):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io, "atomic_write", full)
    out = tmp_path / f"run{suffix}"
    rc, _, err = run_main(capsys, "--target", "scorpio", "--stage", "metropolis", "--walkers", "40", "--sweeps", "20",
                          "--warmup", "5", "--out", str(out), "--quiet")
    assert rc == 1 and err == f"mdhmc: error: --out {str(out)!r}: could not write (No space left on device)\n"


def test_serve_listens_on_localhost_unless_opened_to_the_room():
    from mdhmc.sampler.cli.serve import serve_command

    local = serve_command(5006, False, "app.py")
    assert local[local.index("--address") + 1] == "localhost"
    assert local[local.index("--allow-websocket-origin") + 1] == "localhost:5006"
    room = serve_command(5006, False, "app.py", address="0.0.0.0")
    assert room[room.index("--address") + 1] == "0.0.0.0"
    assert room[room.index("--allow-websocket-origin") + 1] == "*:5006"


@pytest.mark.parametrize("content, says", [
    ("[" * 200_000 + "]" * 200_000, "not a preset (JSON nested too deeply)"),
    ('{"format": "mdhmc-preset", "version": 1, "settings": {"walkers": ' + "9" * 5000 + "}}",
     "not a preset (a number in it has too many digits)"),
    (b'{"name": "caf\xe9"}', "not a preset (not UTF-8 text: byte 13)"),
    (b" " * (2**20 + 1), "not a preset (larger than 1 MiB)"),
])
def test_a_hostile_preset_is_one_line(tmp_path, capsys, content, says):
    p = tmp_path / "hostile.json"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    rc, _, err = run_main(capsys, "--preset", str(p), "--dry-run")
    assert rc == 2 and err == f"mdhmc: error: {p}: {says}\n"


def test_dev_zero_as_a_preset_is_refused_without_reading_it_all(capsys):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    rc, _, err = run_main(capsys, "--preset", "/dev/zero", "--dry-run")
    assert rc == 2 and err == "mdhmc: error: /dev/zero: not a preset (larger than 1 MiB)\n"


def test_keep_must_be_positive(capsys):
    rc, _, err = run_main(capsys, "--target", "scorpio", "--keep", "0", "--dry-run")
    assert rc == 2 and err == "mdhmc: error: argument --keep: must be >= 1, got 0\n"


@pytest.mark.parametrize("suffix", [".npz", ".nc"])
def test_a_disk_too_full_for_the_draws_is_refused_before_sampling(tmp_path, capsys, monkeypatch, suffix):
    # checked, not only caught: HDF5 under .nc can crash the process on a full disk
    class Full:
        f_bavail, f_frsize = 16, 4096  # 64 KiB free

    monkeypatch.setattr(os, "statvfs", lambda path: Full)
    out = tmp_path / f"run{suffix}"
    rc, stdout, err = run_main(capsys, "--target", "scorpio", "--stage", "metropolis", "--walkers", "40",
                               "--sweeps", "20", "--warmup", "5", "--out", str(out), "--quiet")
    assert rc == 2 and stdout == "" and not out.exists()
    assert err == (f"mdhmc: error: --out {str(out)!r}: not enough free disk space (0.1 MiB free, "
                   "about 1.0 MiB needed)\n")
