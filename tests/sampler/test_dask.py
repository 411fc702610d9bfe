"""Walkers on Dask workers (`sampler.distributed`): same seed, same draws as a local run, on a
LocalCluster of 2 worker processes; a lost worker costs nothing; ``--dask`` values checked.

One cluster serves the module (starting worker processes is the slow part); the test that
kills a worker runs last of those using it.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from mdhmc import targets  # noqa: E402
from mdhmc.sampler import Sampler, Settings  # noqa: E402
from mdhmc.sampler.pipeline import DensityError  # noqa: E402
from mdhmc.sampler.cli import main  # noqa: E402
from mdhmc.sampler.distributed import DaskSpecError, WorkersLost, check_spec, split  # noqa: E402

SCORPIO = targets.get("scorpio")
SMALL = dict(walkers=30, steps=30, diffusion_sweeps=4, sweeps=6, warmup=2)


def _local(stage, sweeps=None, **changes):
    s = Sampler(SCORPIO, Settings.thread(**{**SMALL, **changes}), stage=stage)
    for _ in range(sweeps or s.total_sweeps()):
        s.sweep()
    return s


@pytest.fixture(scope="module")
def cluster():
    _local("diffusion")  # the kernels compiled (and cached on disk) before the workers load them
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


def _same(a: Sampler, b: Sampler):
    assert np.array_equal(a.state.positions, b.state.positions)
    assert np.array_equal(a.state.log_density, b.state.log_density)
    assert np.array_equal(a.state.rng, b.state.rng)
    assert np.array_equal(np.array(a.draws), np.array(b.draws))
    assert a.totals == b.totals


def test_blocks_cover_the_walkers():
    assert split(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert split(2, 5) == [(0, 1), (1, 2)]


def test_diffusion_on_two_workers_gives_the_local_draws(client):
    local = _local("diffusion")
    remote = Sampler(SCORPIO, Settings.thread(**SMALL), stage="diffusion", client=client)
    remote.run()
    assert len(client.run(os.getpid)) == 2  # both workers ran blocks and are alive
    _same(local, remote)
    # the per-sweep statistics are reduced from the same per-walker rows
    keep = ("mean_U", "mean_H", "mean_abs_herr", "chosen_herr", "tracked_H", "lp_evals", "steps")
    assert [{k: h[k] for k in keep} for h in local.history] == [{k: h[k] for k in keep} for h in remote.history]
    assert np.array_equal(local.last_tracked.positions, remote.last_tracked.positions)


def test_default_diffusion_with_preconditioner_and_search_gives_the_local_draws(client):
    """The defaults adapt a per-coordinate scale (mass and SPSA metric) and move far walkers by
    a Newton search on the driver: the workers must get the scale, and reload moved walkers."""
    stiff = targets.get("stiff-wells", 6)
    settings = Settings(**{**SMALL, "diffusion_sweeps": 6, "diffusion_warmup": 3})
    local = Sampler(stiff, settings, stage="diffusion")
    remote = Sampler(stiff, settings, stage="diffusion", client=client)
    for _ in range(6):
        local.sweep()
        remote.sweep()
    assert local.history[-1].get("diffusion_step_size") is not None  # the adaptation ran
    _same(local, remote)


def test_pipeline_with_trim_and_tempering_on_the_driver_gives_the_local_draws(client):
    """Diffusion runs on the workers, trimming and tempering here; the blocks are reloaded
    only after the driver changed the ensemble."""
    local = _local("pipeline")
    remote = Sampler(SCORPIO, Settings.thread(**SMALL), stage="pipeline", client=client)
    remote.run()
    _same(local, remote)


def test_cli_on_a_running_scheduler_saves_the_local_draws(client, tmp_path):
    args = ["run", "--target", "scorpio", "--stage", "diffusion", "--preset", "thread", "--quiet",
            *[f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]]
    assert main([*args, "--out", str(tmp_path / "local.npz")]) == 0
    assert main([*args, "--out", str(tmp_path / "dask.npz"), "--dask", client.scheduler.address]) == 0
    with np.load(tmp_path / "local.npz") as a, np.load(tmp_path / "dask.npz") as b:
        assert np.array_equal(a["draws"], b["draws"]) and a["draws"].size


RAISING = """
dim = 2
bounds = ((-1.0, 1.0), (-1.0, 1.0))
def log_density(x):
    if x[0] > 1.9:
        raise ValueError("outside the model")
    return -0.5 * (x[0] * x[0] + x[1] * x[1]) / 100.0
"""


def test_a_raising_target_file_is_the_same_fault_on_the_workers(client, tmp_path):
    """The file travels by its text; the worker finds the failing point, the driver raises it."""
    path = tmp_path / "raising.py"
    path.write_text(RAISING)
    t = targets.load(str(path))
    settings = Settings.thread(walkers=30, steps=30, diffusion_sweeps=30)
    errors = []
    for c in (None, client):
        s = Sampler(t, settings, stage="diffusion", client=c)
        with pytest.raises(DensityError) as info:
            s.run()
        errors.append((info.value, s.sweep_count))
    (local, local_sweeps), (remote, remote_sweeps) = errors
    assert remote_sweeps == local_sweeps  # the same sweep fails: same draws up to it
    assert remote.function == "log_density" and isinstance(remote.error, ValueError)
    assert remote.point is not None and remote.point[0] > 1.9
    assert str(remote).startswith("log_density in raising.py raised ValueError('outside the model') at x = [")


def test_a_scheduler_slow_to_answer_is_not_a_lost_worker(client, monkeypatch):
    """`Client.scheduler_info()` answers from its last copy when the scheduler is slow, and that
    copy may list no workers; the sampler asks the scheduler itself, so a stale copy loses nothing."""
    local = _local("diffusion")
    remote = Sampler(SCORPIO, Settings.thread(**SMALL), stage="diffusion", client=client)
    lines = []
    remote.moves["diffusion"].step.report = lines.append
    remote.moves["diffusion"].step.wait_s = 1.0
    monkeypatch.setattr(client, "scheduler_info", lambda *a, **k: {"workers": {}})
    remote.run()
    _same(local, remote)
    assert lines == []


def test_a_worker_lost_mid_run_is_reported_and_its_blocks_resume(client):
    local = _local("diffusion")
    remote = Sampler(SCORPIO, Settings.thread(**SMALL), stage="diffusion", client=client)
    lines = []
    remote.moves["diffusion"].step.report = lines.append
    remote.sweep()
    remote.sweep()
    # client.run asks the workers themselves: scheduler_info() keeps its handshake copy, which lists
    # no workers, when the scheduler is slow to answer (seen once in CI)
    client.wait_for_workers(2, timeout=60)
    victim = sorted(client.run(os.getpid))[0]
    try:
        client.run(os._exit, 1, workers=[victim])
    except Exception:  # noqa: BLE001 -- the worker died before it could answer
        pass
    remote.sweep()
    remote.sweep()
    _same(local, remote)
    assert len(lines) == 1 and "\n" not in lines[0] and "worker was lost" in lines[0]


def test_cli_with_the_workers_gone_saves_the_last_complete_sweep(client, tmp_path, monkeypatch, capsys):
    from mdhmc.sampler import distributed as dist

    calls = []
    run_sweep = dist.DistributedDiffusion.__call__

    def third_sweep_finds_no_worker(self, *args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise WorkersLost("no Dask worker is left to run the walkers")
        return run_sweep(self, *args, **kw)

    monkeypatch.setattr(dist.DistributedDiffusion, "__call__", third_sweep_finds_no_worker)
    out = tmp_path / "run.npz"
    args = ["run", "--target", "scorpio", "--stage", "diffusion", "--preset", "thread", "--quiet",
            *[f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]]
    assert main([*args, "--out", str(out), "--dask", client.scheduler.address]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no Dask worker" in err and "after 2 of 4 sweeps" in err
    with np.load(out) as saved:
        assert bool(saved["partial"]) and saved["draws"].shape[0] == 2


def test_no_worker_left_keeps_the_last_complete_sweep(cluster, client):
    """The last test on the module's cluster: it closes every worker."""
    remote = Sampler(SCORPIO, Settings.thread(**SMALL), stage="diffusion", client=client)
    remote.moves["diffusion"].step.wait_s = 1.0
    remote.moves["diffusion"].step.report = lambda line: None
    remote.sweep()
    remote.sweep()
    cluster.scale(0)
    deadline = time.monotonic() + 30
    while remote.moves["diffusion"].step._workers_or_none() != {} and time.monotonic() < deadline:
        time.sleep(0.1)
    with pytest.raises(WorkersLost, match="no Dask worker"):
        remote.sweep()
    _same(_local("diffusion", sweeps=2), remote)


@pytest.mark.parametrize("value, message", [
    ("local:0", "N >= 1"),
    ("local:two", "whole number"),
    ("localhost", "expected local:N or a scheduler address"),
    ("tcp://host", "expected local:N or a scheduler address"),
])
def test_bad_dask_values_are_one_line(value, message, capsys):
    with pytest.raises(DaskSpecError, match=message):
        check_spec(value)
    assert main(["run", "--target", "scorpio", "--dask", value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mdhmc: error: argument --dask:") and message in err and "\n" not in err


def test_a_block_whose_worker_left_is_a_lost_worker_not_a_wait_forever():
    """An actor call to a worker that left never completes: the wait notices the worker is gone."""
    from mdhmc.sampler.distributed import DistributedDiffusion, WorkerGone, _worker_lost

    class NeverDone:
        def done(self):
            return False

    class Done:
        def done(self):
            return True

        def result(self):
            return 7

    step = DistributedDiffusion.__new__(DistributedDiffusion)
    alive = {"tcp://a": {}, "tcp://b": {}}
    step._workers = lambda: alive
    assert step._results([Done(), Done()], ["tcp://a", "tcp://b"]) == [7, 7]
    alive.pop("tcp://b")
    with pytest.raises(WorkerGone, match="tcp://b left") as lost:
        step._results([Done(), NeverDone()], ["tcp://a", "tcp://b"])
    assert _worker_lost(lost.value)  # so the sweep is re-run on the workers left
