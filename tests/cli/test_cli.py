"""``mdhmc`` end to end through subprocesses: targets, run (JSON, table, .npz, .nc), presets
and their precedence, serve, and every bad input (exit 2, one line, no traceback).

All commands are submitted at once (see conftest) and run concurrently; tests wait for theirs.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from cli_helpers import REPO, SMALL, Launcher, mdhmc_cmd, run_mdhmc

# key -> (args, substrings expected in the one-line error)
BAD_INPUTS = {
    "unknown-target": (["run", "--target", "scorpoi"], ["unknown target 'scorpoi'", "did you mean 'scorpio'"]),
    "unknown-target-far": (["run", "--target", "zzz"], ["unknown target 'zzz'", "built-ins are"]),
    "missing-target-file": (["run", "--target", "missing.py"], ["missing.py: no such target file"]),
    "broken-target-file": (["run", "--target", "broken.py"], ["broken.py", "could not be imported", "SyntaxError"]),
    "nan-everywhere": (["run", "--target", "nan_all.py", *SMALL], ["log_density returned nan"]),
    "nan-at-every-start": (["run", "--target", "nan_init.py", *SMALL], ["not finite", "NaN or -inf everywhere"]),
    "step-size-zero": (["run", "--target", "scorpio", "--step-size", "0"], ["argument --step-size", "step_size must be > 0"]),
    "step-size-negative": (["run", "--target", "scorpio", "--step-size", "-0.1"],
                           ["argument --step-size", "step_size must be > 0, got -0.1"]),
    "walkers-one": (["run", "--target", "scorpio", "--walkers", "1"], ["argument --walkers", "walkers must be >= 2, got 1"]),
    "walkers-not-a-number": (["run", "--target", "scorpio", "--walkers", "many"],
                             ["argument --walkers", "expected a whole number, got 'many'"]),
    "unknown-flag": (["run", "--target", "scorpio", "--walkres", "3"], ["unrecognized arguments: --walkres 3"]),
    "unknown-stage": (["run", "--target", "scorpio", "--stage", "tempring"],
                      ["unknown stage 'tempring'", "did you mean 'tempering'"]),
    "warmup-over-sweeps": (["run", "--target", "scorpio", "--sweeps", "10", "--warmup", "20"],
                           ["warmup (20) must not exceed sweeps (10)"]),
    "too-few-walkers-for-rungs": (["run", "--target", "scorpio", "--stage", "tempering", "--walkers", "10", "--rungs", "8"],
                                  ["tempering with 8 rungs needs at least 16 walkers"]),
    "dim-of-2d-target": (["run", "--target", "scorpio", "--target-dim", "3"], ["'scorpio' is 2D only"]),
    "no-target": (["run", "--walkers", "40"], ["--target is required"]),
    "preset-missing": (["run", "--target", "scorpio", "--preset", "nope.json"],
                       ["nope.json: cannot read preset", "built-in presets are", "seed-scorpio"]),
    "preset-not-json": (["run", "--target", "scorpio", "--preset", "not-json.json"], ["not-json.json", "not valid JSON"]),
    "preset-unknown-key": (["run", "--target", "scorpio", "--preset", "unknown-key.json"],
                           ["unknown-key.json", "unknown setting 'walkerz'"]),
    "preset-out-of-range": (["run", "--target", "scorpio", "--preset", "out-of-range.json"],
                            ["out-of-range.json", "step_size must be > 0"]),
    "preset-wrong-type": (["run", "--target", "scorpio", "--preset", "wrong-type.json"],
                          ["wrong-type.json", "walkers must be a number"]),
    "out-missing-dir": (["run", "--target", "scorpio", "--out", "no/such/dir/run.npz"], ["does not exist"]),
    "out-is-directory": (["run", "--target", "scorpio", "--out", "a-directory.npz"], ["is a directory"]),
    "out-bad-suffix": (["run", "--target", "scorpio", "--out", "run.csv"], ["must end in .npz or .nc"]),
    "hmc-without-gradient": (["run", "--target", "nograd.py", "--stage", "hmc"], ["has no gradient", "exact HMC"]),
    "threads-zero": (["run", "--target", "scorpio", "--threads", "0"], ["argument --threads", "must be between 1 and"]),
    "no-command": ([], ["a command is required"]),
    "unknown-command": (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    "serve-bad-port": (["serve", "--port", "70000", "--no-show"], ["argument --port", "between 1 and 65535"]),
    "serve-broken-target": (["serve", "--no-show", "--target", "broken.py"], ["broken.py", "could not be imported"]),
    "serve-missing-target": (["serve", "--no-show", "--target", "missing.py"], ["no such target file"]),
}
if sys.platform.startswith("linux") and os.path.isdir("/proc"):
    # unwritable even for root: checked before any sampling (default sizes would take minutes)
    BAD_INPUTS["out-not-writable"] = (["run", "--target", "scorpio", "--out", "/proc/mdhmc-test-run.npz"], ["not writable"])

ALL_FLAGS = ["--target", "funnel", "--target-dim", "4", "--stage", "diffusion", "--walkers", "10", "--sweeps", "50",
             "--warmup", "10", "--trajectories", "3", "--steps", "7", "--step-size", "0.01", "--delta", "2",
             "--gain", "0.5", "--noise", "0.1", "--hot", "1.5", "--trigger", "4", "--t-hot", "6", "--rungs", "3",
             "--seed", "9", "--threads", "1", "--dry-run"]


@pytest.fixture(scope="session")
def launched(pool, workdir):
    """Submit every command of the suite; the slow runs first."""
    L = Launcher(pool, workdir)
    L.launch("pipeline-json", "run", "--target", "scorpio", *SMALL, "--seed", "3", "--json", "--out", "pipeline.npz")
    L.launch("preset-metropolis-nc", "run", "--preset", "banana-metropolis.json", "--walkers", "40", "--seed", "5",
             "--out", "metropolis.nc")
    L.launch("hmc-funnel", "run", "--preset", "funnel-dim.json", "--walkers", "40", "--sweeps", "20", "--warmup", "5",
             "--json")
    for key, (args, _) in BAD_INPUTS.items():
        L.launch(key, *args)
    L.launch("dry-preset", "run", "--preset", "banana-metropolis.json", "--dry-run")
    L.launch("dry-override", "run", "--preset", "banana-metropolis.json", "--target", "scorpio", "--stage", "tempering",
             "--walkers", "80", "--gain", "2.5", "--trajectories", "7", "--t-hot", "4", "--dry-run")
    L.launch("dry-all-flags", "run", *ALL_FLAGS)
    L.launch("dry-warmup-scaled", "run", "--target", "scorpio", "--sweeps", "20", "--dry-run", "--json")
    L.launch("dry-builtin-preset", "run", "--preset", "seed-scorpio", "--dry-run")
    L.launch("targets", "targets")
    L.launch("targets-json", "targets", "--json")
    return L


def last_json(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    assert lines, "no output on stdout"
    return json.loads(lines[-1])


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout[-2000:]}\nstderr:\n{r.stderr[-4000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    return r


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("key", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(launched, key):
    r = launched.result(key)
    _, expected = BAD_INPUTS[key]
    assert r.returncode == 2, f"exit {r.returncode}\nstdout: {r.stdout[-1000:]}\nstderr: {r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mdhmc: error: "), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert r.stdout.strip() == ""


def test_serve_port_in_use(workdir):
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run_mdhmc("serve", "--port", port, "--no-show", cwd=workdir,
                      env={"MDHMC_DASHBOARD_APP": str(workdir / "stub_app.py")})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"mdhmc: error: argument --port: port {port} is already in use"


# ------------------------------------------------------------------------------ run
EXPECTED_TYPES = {
    "target": str, "dim": int, "stage": str, "walkers": int, "draws": int, "lp_evals": int, "steps": int,
    "wall_s": float, "mean": list, "sd": list, "acceptance": float, "swap_acceptance": float, "triggers": int,
    "divergences": int, "ks_p": list, "sliced_w1": float, "mass_fractions": list, "exact_mass_fractions": list,
}


def test_run_pipeline_json_and_npz(launched, workdir):
    r = ok(launched.result("pipeline-json"))
    assert "sweep" not in r.stderr  # no progress bar with --json
    rep = last_json(r.stdout)
    for key, typ in EXPECTED_TYPES.items():
        assert key in rep, key
        assert isinstance(rep[key], typ), (key, rep[key])
    assert rep["target"] == "scorpio" and rep["dim"] == 2 and rep["stage"] == "pipeline"
    assert rep["walkers"] == 40 and rep["cold_walkers"] == 20  # two rungs
    assert rep["draws"] == 15  # 20 tempering sweeps, 5 of them warm-up (not recorded)
    n = rep["draws"]
    assert rep["lp_evals"] > 0 and rep["steps"] >= 40 * 2 * 20  # 2 trajectories of 20 steps per walker
    for key in ("mean", "sd", "ks_p"):
        assert len(rep[key]) == 2 and all(isinstance(v, float) for v in rep[key])
    assert all(0 <= p <= 1 for p in rep["ks_p"])
    for key in ("mass_fractions", "exact_mass_fractions"):
        assert len(rep[key]) == 4 and math.isclose(sum(rep[key]), 1.0, abs_tol=1e-9)
    assert 0 <= rep["acceptance"] <= 1 and 0 <= rep["swap_acceptance"] <= 1
    assert rep["settings"]["walkers"] == 40 and rep["settings"]["seed"] == 3

    with np.load(workdir / "pipeline.npz") as z:
        assert z["final"].shape == (20, 2)
        assert z["draws"].shape == (n, 20, 2)
        assert z["lp"].shape == (20,)
        assert np.all(np.isfinite(z["draws"])) and np.all(np.isfinite(z["lp"]))
        assert str(z["target"]) == "scorpio" and str(z["stage"]) == "pipeline"
        settings = json.loads(str(z["settings_json"]))
        preset_text = str(z["preset_json"])
        np.testing.assert_allclose(z["draws"][-1], z["final"])  # the last recorded sweep is the final ensemble
    assert settings == rep["settings"]
    assert settings["diffusion_sweeps"] == 2 and settings["steps"] == 20 and settings["warmup"] == 5
    # the saved preset reproduces the run's settings
    from mdhmc.sampler import presets

    p = presets.loads(preset_text)
    assert p["target"] == "scorpio" and p["stage"] == "pipeline"
    assert p.apply().to_dict() == presets.Preset(settings=settings).apply().to_dict()


def test_run_preset_override_table_and_netcdf(launched, workdir):
    r = ok(launched.result("preset-metropolis-nc"))
    table = dict(ln.split(None, 1) if " " in ln else (ln, "") for ln in r.stdout.splitlines() if ln.strip())
    text = r.stdout
    assert table["target"].startswith("banana (2-D")
    assert table["stage"].strip() == "metropolis"
    assert table["walkers"].startswith("40 (40 cold)")  # the flag beats the preset's 60
    n = int(table["draws"].split()[0])
    assert n == 24  # the preset's sweeps=30, warmup=6
    for label in ("lp evals", "acceptance", "swap acceptance", "triggers", "divergences", "mean", "sd",
                  "KS p vs exact", "sliced W1", "saved"):
        assert any(ln.startswith(label) for ln in text.splitlines()), label
    assert "mass fractions" not in text  # banana has no components
    if "sweep" in r.stderr:  # progress shown (the run passed one second): it ends complete
        assert "sweep 30/30" in r.stderr.strip().splitlines()[-1]

    import arviz as az

    idata = az.from_netcdf(workdir / "metropolis.nc")
    x = idata.posterior["x"]
    assert x.dims == ("chain", "draw", "dim") and x.shape == (40, n, 2)
    settings = json.loads(idata.posterior.attrs["settings_json"])
    # precedence: defaults < preset < flags
    assert settings["walkers"] == 40 and settings["seed"] == 5  # flags
    assert settings["sweeps"] == 30 and settings["warmup"] == 6 and settings["t_hot"] == 5.0  # preset
    assert settings["steps"] == 200  # default
    assert idata.posterior.attrs["target"] == "banana" and idata.posterior.attrs["stage"] == "metropolis"
    summ = az.summary(idata, kind="stats")
    assert len(summ) == 2 and np.all(np.isfinite(summ["mean"].to_numpy()))


def test_run_hmc_with_preset_target_dim(launched):
    rep = last_json(ok(launched.result("hmc-funnel")).stdout)
    assert rep["target"] == "funnel" and rep["dim"] == 5 and rep["stage"] == "hmc"
    assert len(rep["mean"]) == 5 and len(rep["ks_p"]) == 5
    assert rep["swap_acceptance"] is None  # no swaps in HMC: NaN is written as null
    assert isinstance(rep["divergences"], int) and rep["grad_evals"] > 0
    assert rep["settings"]["step_size"] == 0.01 and rep["walkers"] == 40


# ------------------------------------------------------------------------------ presets and precedence
def dry(launched, key) -> dict:
    return json.loads(ok(launched.result(key)).stdout)


def test_dry_run_takes_target_stage_and_settings_from_preset(launched):
    p = dry(launched, "dry-preset")
    assert p["format"] == "mdhmc-preset" and p["target"] == "banana" and p["stage"] == "metropolis"
    s = p["settings"]
    assert (s["walkers"], s["sweeps"], s["warmup"], s["seed"], s["t_hot"]) == (60, 30, 6, 11, 5.0)


def test_flags_override_preset(launched):
    p = dry(launched, "dry-override")
    assert p["target"] == "scorpio" and p["stage"] == "tempering"
    s = p["settings"]
    assert s["walkers"] == 80 and s["viscosity_gain"] == 2.5 and s["diffusion_sweeps"] == 7 and s["t_hot"] == 4.0
    assert s["sweeps"] == 30 and s["seed"] == 11  # from the preset
    assert s["steps"] == 200  # default


def test_every_flag_maps_to_its_setting(launched):
    p = dry(launched, "dry-all-flags")
    assert p["target"] == "funnel" and p["target_dim"] == 4 and p["stage"] == "diffusion"
    expect = {"walkers": 10, "sweeps": 50, "warmup": 10, "diffusion_sweeps": 3, "steps": 7, "step_size": 0.01,
              "delta": 2.0, "viscosity_gain": 0.5, "noise": 0.1, "hot": 1.5, "trigger": 4.0, "t_hot": 6.0,
              "rungs": 3, "seed": 9}
    assert {k: p["settings"][k] for k in expect} == expect


def test_sweeps_flag_scales_inherited_warmup(launched):
    r = launched.result("dry-warmup-scaled")
    assert len(ok(r).stdout.strip().splitlines()) == 1  # --json: one line
    p = json.loads(r.stdout)
    assert p["settings"]["sweeps"] == 20 and p["settings"]["warmup"] == 5
    assert "warmup lowered from 100 to 5" in r.stderr


def test_builtin_preset_by_name_is_the_threads_run(launched):
    p = dry(launched, "dry-builtin-preset")
    assert p["target"] == "scorpio"
    s = p["settings"]
    assert s["step_size"] == 0.002 and s["steps"] == 5000 and s["mass"] is None


def test_shipped_presets_are_valid():
    from mdhmc.sampler import presets

    found = presets.builtin_presets()
    assert "seed-scorpio" in found
    for name, p in found.items():
        p.apply()  # valid settings
        assert p["target"] or p["base"] == "thread", name  # `thread` applies to any target


# ------------------------------------------------------------------------------ targets
def test_targets_table_and_json(launched):
    from mdhmc import targets

    table = ok(launched.result("targets")).stdout.splitlines()
    assert table[0].split()[:2] == ["name", "dim"] and "exact draws" in table[0] and "gradient" in table[0]
    assert [ln.split()[0] for ln in table[1:]] == targets.names()
    rows = json.loads(ok(launched.result("targets-json")).stdout)
    assert [r["name"] for r in rows] == targets.names()
    by = {r["name"]: r for r in rows}
    assert by["scorpio"]["dim"] == 2 and by["stiff-wells"]["dim"] == 100
    assert all(isinstance(r["exact_draws"], bool) and isinstance(r["gradient"], bool) for r in rows)
    assert by["scorpio"]["components"] == 4


def test_console_script_and_help():
    exe = shutil.which("mdhmc")
    if exe is None:
        pytest.skip("the mdhmc console script is not installed (pip install -e .)")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("mdhmc ")


def test_run_help_lists_every_setting_with_its_aliases():
    from mdhmc.sampler.settings import GROUPS, SPEC

    r = subprocess.run(mdhmc_cmd("run", "--help"), capture_output=True, text=True, timeout=60, cwd=REPO,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    words = r.stdout.replace(",", " ").replace(".", " ").split()
    for s in SPEC:
        assert "--" + s.name in words, s.name
        for alias in s.aliases:
            assert "--" + alias in words, (s.name, alias)
    for title in GROUPS.values():
        assert f"{title} settings:" in r.stdout
    for flag in ("--target", "--target_dim", "--target-dim", "--stage", "--preset", "--threads", "--out", "--json",
                 "--dry-run", "--no-naive_swap"):
        assert flag in words, flag
    # each setting's line carries its default and range
    assert "Default 0.05; (0, 100]" in r.stdout and "Default 10; (0, inf]" in r.stdout


# ------------------------------------------------------------------------------ serve
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_get(workdir, env, extra=(), paths=("/",), timeout=90.0) -> list[tuple[int, dict, str]]:
    """Start ``mdhmc serve`` on a free port, GET each of ``paths`` (no redirects followed), stop it.

    Returns (status, headers, body) per path.
    """
    port = _free_port()
    e = dict(os.environ, **env)
    e["PYTHONPATH"] = REPO + os.pathsep + e.get("PYTHONPATH", "")
    proc = subprocess.Popen(mdhmc_cmd("serve", "--port", port, "--no-show", *extra), cwd=workdir, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        deadline = time.monotonic() + timeout
        for path in paths:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"mdhmc serve exited {proc.returncode}: {proc.stdout.read()[-3000:]}")
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    out.append((resp.status, dict(resp.getheaders()), resp.read().decode("utf-8", "replace")))
                    break
                except (ConnectionError, socket.timeout, OSError):
                    if time.monotonic() > deadline:
                        pytest.fail(f"mdhmc serve did not answer on {path}")
                    time.sleep(0.3)
                finally:
                    conn.close()
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_passes_target_files_to_the_app(workdir):
    """The root URL leads to the app; extra target files arrive in MDHMC_TARGET_FILES (absolute)."""
    import html

    (s1, headers, _), (s2, _, page) = _serve_and_get(
        workdir, {"MDHMC_DASHBOARD_APP": str(workdir / "stub_app.py")}, extra=("--target", "nograd.py"),
        paths=("/", "/stub_app"))
    assert s1 in (301, 302) and headers["Location"].rstrip("/").endswith("/stub_app")
    assert s2 == 200
    title = html.unescape(page.split("<title>", 1)[1].split("</title>", 1)[0])
    assert title == "stub|" + str(workdir / "nograd.py")


@pytest.mark.skipif(not os.path.isfile(os.path.join(REPO, "dashboard", "app.py")), reason="dashboard/app.py not built yet")
def test_serve_real_dashboard_root_url_leads_to_the_app(workdir):
    # the root URL redirects to the app (fetching the app page itself builds a whole session: the
    # dashboard's own tests do that)
    [(status, headers, _)] = _serve_and_get(workdir, {"MDHMC_DASHBOARD_APP": ""}, timeout=120.0)
    assert status in (301, 302) and headers["Location"].rstrip("/").endswith("/app")
