"""Walkers in blocks on Dask workers: momentum diffusion past one machine.

``Sampler(target, settings, client=dask.distributed.Client(...))`` (or ``mdhmc run --dask
local:N`` / ``--dask tcp://HOST:PORT``) runs the diffusion sweeps on the workers of a Dask
cluster. Each worker holds one block of walkers ``[lo, hi)`` as a Dask *actor*
(`WalkerBlock`): its positions, log densities and random streams stay there between
sweeps. A sweep sends each block only the diffusion parameters; each block runs the same
numba kernel as a local run (`sampler.diffusion`) and sends back its walkers' new
positions, log densities and stream states (what the run records and what a replacement
worker needs), plus the per-walker statistics. Nothing goes out again unless another move
changed the ensemble on the driver (Metropolis, tempering and trimming run there):
a block is reloaded only when the driver's copy differs from what it last received.

Same seed, same draws: every walker owns its random stream (`sampler.rng`), so a block of
walkers on any worker gives bit-identical results to the same walkers in one local call.

What is distributed: the diffusion stage, and the diffusion phase of the pipeline. The
exact moves (Metropolis, tempering swaps, HMC) run on the driver.

Failure: if a worker is lost mid-sweep, that sweep is dropped (the driver still holds the
last complete sweep), one line is reported, the blocks are rebuilt on the workers left
(or on the replacement a LocalCluster's nanny starts) and the sweep is run again: same
draws. If no worker is left, `WorkersLost` is raised and the caller keeps the last
complete sweep (``mdhmc run --out`` saves it, marked partial).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from typing import Callable

import numpy as np

from . import compile_helper, diffusion, faults
from .ensemble import EnsembleState

__all__ = ["WalkerBlock", "DistributedDiffusion", "WorkersLost", "DaskSpecError", "check_spec", "connect", "distribute"]


class WorkerGone(ConnectionError):
    """A worker holding a block left the scheduler while the driver waited on it."""


class WorkersLost(RuntimeError):
    """No Dask worker is left to run the walkers; the ensemble is the last complete sweep."""


class DaskSpecError(ValueError):
    """A ``--dask`` value that is not ``local:N`` or a scheduler address (one readable line)."""


# ---------------------------------------------------------------- the target, shipped
def target_recipe(target) -> tuple:
    """How a worker rebuilds ``target``: a built-in by name, a user file by its text (the
    worker need not see the driver's disk), anything else pickled (numba dispatchers pickle
    their Python function by value)."""
    from mdhmc import targets
    from mdhmc.targets.builtin import DEFAULT_DIMS

    if target.source == "built-in" and target.name in targets.names():
        return ("builtin", target.name, target.dim if target.name in DEFAULT_DIMS else None)
    if os.path.isfile(str(target.source)) and str(target.source).endswith(".py"):
        with open(target.source, encoding="utf-8") as f:
            return ("file", os.path.basename(target.source), f.read())
    import cloudpickle

    return ("pickle", cloudpickle.dumps(target))


def rebuild_target(recipe: tuple):
    from mdhmc import targets

    kind = recipe[0]
    if kind == "builtin":
        return targets.get(recipe[1], recipe[2])
    if kind == "file":
        folder = tempfile.mkdtemp(prefix="mdhmc-target-")
        path = os.path.join(folder, recipe[1])
        with open(path, "w", encoding="utf-8") as f:
            f.write(recipe[2])
        return targets.load(path)
    import cloudpickle

    return cloudpickle.loads(recipe[1])


# ---------------------------------------------------------------- the worker side
class WalkerBlock:
    """Walkers ``[lo, hi)`` of the ensemble, held on a Dask worker between sweeps (an actor)."""

    def __init__(self, recipe: tuple, mass, tracked: int, threads: int):
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        # every worker would start a compile helper of its own for the same kernels: they compile here
        os.environ[compile_helper.ENV] = "0"
        self.target = rebuild_target(recipe)
        self.step = diffusion.build_kernel(self.target, mass, tracked)
        self.state = None

    def load(self, positions, log_density, rng):
        """Take these walkers (their stream rows; a spare ensemble row keeps the layout)."""
        spare = np.zeros((1, 4), dtype=np.uint64)
        self.state = EnsembleState(np.ascontiguousarray(positions), np.ascontiguousarray(log_density),
                                   np.ascontiguousarray(np.concatenate([rng, spare])))
        return True

    def sweep(self, params, scale=None):
        """One diffusion trajectory per walker of the block; returns what the driver keeps, or
        ``("fault", function, error, point)`` if the target raised (found here, where the
        points are: `sampler.faults`)."""
        try:
            _, info = self.step(self.state, diffusion.DiffusionParams(*params), None, scale)
        except Exception as exc:
            error = faults.unwrap(exc)
            if error is exc:
                raise
            scratch = self.step.buffers["scratch"]
            found = faults.locate(self.target, error, np.concatenate([scratch[:, 0], scratch[:, 5],
                                                                     self.state.positions]))
            return ("fault", found.function, found.error, found.point)
        st = self.state
        return (st.positions.copy(), st.log_density.copy(), st.rng[:-1].copy(),
                self.step.buffers["fstats"].copy(), self.step.buffers["icounts"].copy(), info.tracked)


# ---------------------------------------------------------------- the driver side
def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous blocks covering ``[0, n)`` (sizes differ by at most one; none empty)."""
    parts = max(1, min(parts, n))
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class DistributedDiffusion:
    """``step(state, params, chunks=None) -> (state, DiffusionInfo)`` as `diffusion.build_kernel`
    gives, running the walkers on ``client``'s workers (one block per worker)."""

    def __init__(self, client, target, mass=None, tracked: int = 0,
                 report: Callable[[str], None] | None = None, wait_s: float = 30.0):
        self.client = client
        self.target = target
        self.mass = mass
        self.tracked = int(tracked)
        self.report = report or (lambda line: print(f"mdhmc: {line}", file=sys.stderr))
        self.wait_s = float(wait_s)
        self.recipe = target_recipe(target)
        self.buffers: dict = {}  # what `DiffusionMove.points_in_flight` looks into (nothing here)
        self.blocks: list[tuple[int, int]] = []
        self.actors: list = []
        self.addresses: list[str] = []  # the worker holding each block
        self._synced = None  # the ensemble as the blocks hold it

    # the workers and their blocks
    def _workers(self) -> dict:
        """Asked of the scheduler each time. Not `Client.scheduler_info()`: when the scheduler does
        not answer in time it returns its last copy, which may list no workers (CI saw this once)."""
        kw = {"n_workers": -1} if _takes_n_workers(self.client) else {}
        return self.client.sync(self.client.scheduler.identity, **kw)["workers"]

    def _workers_or_none(self) -> dict | None:
        try:
            return self._workers()
        except OSError:  # the scheduler did not answer: nothing learnt, ask again later
            return None

    def _build(self, n: int):
        deadline = time.monotonic() + self.wait_s
        workers = self._workers_or_none()
        while not workers and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = self._workers_or_none()
        if not workers:
            raise WorkersLost("no Dask worker is left to run the walkers")
        addresses = sorted(workers)
        self.blocks = split(n, len(addresses))
        futures = []
        for (lo, hi), addr in zip(self.blocks, addresses):
            trk = self.tracked - lo if lo <= self.tracked < hi else -1
            futures.append(self.client.submit(WalkerBlock, self.recipe, self.mass, trk,
                                              workers[addr].get("nthreads", 1), actor=True, workers=[addr],
                                              allow_other_workers=True, pure=False))
        self.actors = self._results(futures, addresses)
        self.addresses = addresses
        self._synced = None

    def _results(self, futures, addresses) -> list:
        """The futures' results, or `WorkerGone` as soon as a worker they run on leaves the
        scheduler: a call to an actor whose worker has gone retries after the actor's own future,
        which stays pending for good once no worker is left (CI hung 80 min so as a cluster scaled to 0)."""
        answered = time.monotonic()
        while True:
            for _ in range(100):  # poll the futures often, the scheduler less (~1/s)
                if all(f.done() for f in futures):
                    return [f.result() for f in futures]
                time.sleep(0.01)
            alive = self._workers_or_none()
            if alive is None:
                if time.monotonic() - answered > self.wait_s:
                    raise WorkersLost(f"the Dask scheduler has not answered for {self.wait_s:g} s")
                continue
            answered = time.monotonic()
            gone = [a for a in addresses if a not in alive]
            if gone:
                raise WorkerGone(f"worker {gone[0]} left the scheduler")

    def _load(self, state: EnsembleState):
        self._results([a.load(state.positions[lo:hi], state.log_density[lo:hi], state.rng[lo:hi])
                       for a, (lo, hi) in zip(self.actors, self.blocks)], self.addresses)
        self._remember(state)

    def _remember(self, state: EnsembleState):
        self._synced = (state.positions.copy(), state.log_density.copy(), state.rng[:-1].copy())

    def _in_sync(self, state: EnsembleState) -> bool:
        s = self._synced
        return (s is not None and s[0].shape == state.positions.shape and np.array_equal(s[0], state.positions)
                and np.array_equal(s[1], state.log_density) and np.array_equal(s[2], state.rng[:-1]))

    def close(self):
        self.actors = []
        self.addresses = []
        self._synced = None

    def __call__(self, state: EnsembleState, params, chunks=None, scale=None):
        n = state.walkers
        if params.gradient == "exact" and self.target.grad_log_density is None:
            raise ValueError(f"target {self.target.name!r} has no gradient: use gradient='spsa'")
        for attempt in range(3):
            try:
                # actor handles talk through the *current* client: make it ours, not another one
                # this process holds (e.g. a ``with Client(...)`` block around the caller)
                with self.client.as_current():
                    if not self.actors or self.blocks[-1][1] != n:
                        self._build(n)
                    if not self._in_sync(state):
                        self._load(state)
                    results = self._results([a.sweep(tuple(params), scale) for a in self.actors], self.addresses)
                fault = next((r for r in results if isinstance(r[0], str)), None)
                if fault is not None:  # the blocks moved part-way: reload them before another sweep
                    self._synced = None
                    raise faults.DensityError(self.target, *fault[1:])
                break
            except WorkersLost:
                raise
            except Exception as exc:  # noqa: BLE001 -- a lost worker surfaces as comm/actor errors
                if not _worker_lost(exc):
                    raise
                self.report(f"a Dask worker was lost ({type(exc).__name__}); its sweep is run again "
                            "on the workers left, from the last complete sweep")
                self.close()
        else:
            raise WorkersLost("Dask workers kept failing; the ensemble is the last complete sweep")
        fstats = np.empty((n, diffusion.N_FSTATS))
        icounts = np.empty((n, diffusion.N_ICOUNTS), dtype=np.int64)
        trk = None
        for (lo, hi), (x, lp, rng, fs, ic, tracked) in zip(self.blocks, results):
            state.positions[lo:hi] = x
            state.log_density[lo:hi] = lp
            state.rng[lo:hi] = rng
            fstats[lo:hi] = fs
            icounts[lo:hi] = ic
            trk = tracked if tracked is not None else trk
        self._remember(state)
        return state, _summarise(fstats, icounts, trk)


def _summarise(fstats, icounts, tracked) -> diffusion.DiffusionInfo:
    """The sweep's `DiffusionInfo` from every block's per-walker rows, reduced as the local
    step reduces them (same numbers, not block means re-averaged)."""
    D = diffusion
    tot = icounts.sum(axis=0)
    means = fstats.mean(axis=0)
    return D.DiffusionInfo(
        float(means[D.S_U]), float(means[D.S_K]), float(means[D.S_H]), float(means[D.S_HERR]),
        float(means[D.S_ABS_HERR]), float(means[D.S_CHOSEN_HERR]), int(tot[D.C_EVALS]), int(tot[D.C_GRAD_EVALS]),
        int(tot[D.C_STEPS]), int(tot[D.C_TRIGGERS]), int(tot[D.C_ABANDONED]), tracked,
        fstats[:, D.S_STEP_DH2].copy())  # per walker: the step-size adaptation's input


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _worker_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says a worker (or the connection to it) went away, not a sampler error."""
    from distributed.comm.core import CommClosedError

    names = {"KilledWorker", "CommClosedError", "StreamClosedError", "FutureCancelledError", "CancelledError"}
    if isinstance(exc, (CommClosedError, OSError, TimeoutError)) or type(exc).__name__ in names:
        return True
    return "Worker holding Actor was lost" in str(exc)  # ValueError in older releases, RuntimeError now


def distribute(move, client, target, mass=None, tracked: int = 0):
    """``move`` (a `moves.DiffusionMove`) with its step run on ``client``'s workers."""
    move.step = DistributedDiffusion(client, target, mass, tracked)
    return move


# ---------------------------------------------------------------- the --dask option
def check_spec(spec: str) -> tuple[str, object]:
    """``("local", N)`` or ``("address", spec)`` for a ``--dask`` value, without connecting;
    `DaskSpecError` (one line) for a bad value or when dask.distributed is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DaskSpecError("needs dask.distributed, which is not installed: pip install 'mdhmc[dask]'") from None
    spec = str(spec).strip()
    if spec.startswith("local:") or spec == "local":
        text = spec.partition(":")[2]
        try:
            n = int(text)
        except ValueError:
            raise DaskSpecError(f"local:N needs a whole number of workers, got {spec!r}") from None
        if n < 1:
            raise DaskSpecError(f"local:N needs N >= 1 workers, got {n}")
        return "local", n
    scheme, _, rest = spec.partition("://")
    host, _, port = rest.rpartition(":")
    if not scheme or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DaskSpecError(f"expected local:N or a scheduler address such as tcp://HOST:8786, got {spec!r}")
    return "address", spec


def connect(spec: str):
    """A ``dask.distributed.Client`` for ``local:N`` (a LocalCluster of N worker processes on
    this machine) or ``tcp://HOST:PORT`` (a running scheduler); `DaskSpecError` otherwise."""
    kind, value = check_spec(spec)
    from distributed import Client, LocalCluster

    if kind == "local":
        threads = max(1, (os.cpu_count() or 1) // value)
        cluster = LocalCluster(n_workers=value, threads_per_worker=threads, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster)
    try:
        return Client(spec, timeout=10)
    except Exception as exc:  # noqa: BLE001 -- unreachable host, refused connection, bad port, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DaskSpecError(f"could not reach the Dask scheduler at {spec} ({detail})") from None
