"""Checkpoints on a geometric wall-time grid, shared by every method's adapter.

A checkpoint records cumulative wall time, evaluations, divergences and the accuracy of
the method's estimate so far; the clock pauses while it is scored (`benchmarks.methods`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

MAX_RECORDED_VALUES = 20_000_000  # floats kept per run (as Sampler's ring buffer)
#: tiny sizes for the smoke runs (what the test suite runs)
SMOKE = {"walkers": 64, "diffusion_sweeps": 2, "steps": 20, "warmup": 5, "nuts_warmup": 50, "nuts_chunk": 5}


@dataclass
class Checkpoint:
    wall_s: float
    lp_evals: int
    grad_evals: int
    divergences: int  # after warm-up (HMC family)
    phase: str  # "warmup" or "sampling"
    metrics: dict
    draws: np.ndarray | None = None  # the evaluated pool (kept for the last checkpoint only)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("wall_s", "lp_evals", "grad_evals", "divergences", "phase", "metrics")}
        return d


@dataclass
class RunResult:
    method: str
    case: str
    seed: int
    budget_s: float
    warm: bool
    prepare_s: float  # compile / cache-load time spent before the clock started (warm runs)
    checkpoints: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    def to_dict(self) -> dict:
        return {"method": self.method, "case": self.case, "seed": self.seed, "budget_s": self.budget_s,
                "warm": self.warm, "prepare_s": self.prepare_s, "info": self.info,
                "checkpoints": [c.to_dict() for c in self.checkpoints]}


def checkpoint_grid(budget_s: float, n: int = 24, first_fraction: float = 1 / 100) -> np.ndarray:
    """Checkpoint times: geometric from ``first_fraction x budget`` to the budget."""
    return budget_s * np.geomspace(first_fraction, 1.0, n)


class _Clock:
    """Wall clock that can be paused (checkpoint evaluation is not charged to the method)."""

    def __init__(self):
        self._t0 = time.perf_counter()
        self._paused = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0 - self._paused

    @contextlib.contextmanager
    def paused(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - t


class _Checkpointer:
    """Decides when a checkpoint is due and records it (clock paused)."""

    def __init__(self, budget_s, evaluate, n_checkpoints, result: RunResult, keep_draws: bool):
        self.clock = _Clock()
        self.budget = budget_s
        self.grid = checkpoint_grid(budget_s, n_checkpoints)
        self.next = 0
        self.evaluate = evaluate
        self.result = result
        self.keep_draws = keep_draws
        self.last_pool = None

    @property
    def done(self) -> bool:
        return self.clock.elapsed() >= self.budget

    def due(self) -> bool:
        t = self.clock.elapsed()
        return t >= self.budget or (self.next < len(self.grid) and t >= self.grid[self.next])

    def take(self, draws_fn, lp_evals, grad_evals, divergences, phase):
        t = self.clock.elapsed()
        with self.clock.paused():
            while self.next < len(self.grid) and self.grid[self.next] <= t:
                self.next += 1
            X = np.asarray(draws_fn(), dtype=np.float64)
            m = self.evaluate(X) if self.evaluate is not None else {"n": int(X.shape[0])}
            self.last_pool = X
            self.result.checkpoints.append(Checkpoint(float(t), int(lp_evals), int(grad_evals), int(divergences),
                                                      phase, m, X if self.keep_draws else None))


class _SweepBuffer:
    """Keeps ``(walkers, dim)`` sweeps under a value cap by doubling the stride when full."""

    def __init__(self, max_values: int | None = None):
        # read at construction, so a run can raise the module's cap (`stiff_wells_10000`)
        self.max_values = MAX_RECORDED_VALUES if max_values is None else int(max_values)
        self.items: list = []
        self.index: list = []
        self.stride = 1

    def add(self, i: int, X: np.ndarray):
        if i % self.stride:
            return
        self.items.append(np.array(X, dtype=np.float64, copy=True))
        self.index.append(i)
        if len(self.items) * self.items[0].size > self.max_values and len(self.items) > 2:
            self.stride *= 2
            keep = [k for k, j in enumerate(self.index) if j % self.stride == 0]
            self.items = [self.items[k] for k in keep]
            self.index = [self.index[k] for k in keep]

    def since(self, i0: int) -> list:
        return [x for x, j in zip(self.items, self.index) if j >= i0]
