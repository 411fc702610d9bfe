"""Parallel tempering over an ensemble split into temperature rungs.

Walkers are split into ``rungs`` equal contiguous blocks; block r targets
exp(lp / T_r), with T_0 = 1 (the cold ensemble) and a geometric ladder up to ``t_hot``
(the thread used two rungs, T = 1 and 3.5). Each sweep, with probability 1/2, every walker
takes a Metropolis step at its own temperature (`sampler.metropolis`); otherwise
``swaps_per_walker x walkers`` swap attempts are made between random walkers of adjacent
rungs (r, r+1) -- the swap move built here; `sampler.moves` holds the 1/2-1/2 schedule.
A swap is accepted with the standard probability

    min(1, exp((1/T_r - 1/T_{r+1}) (lp_{r+1} - lp_r)))

An accepted swap where the cold walker had the lower lp is an *ejection*: a tail point is
moved out of the cold ensemble (the thread's "Maxwell's daemon").

``naive=True`` is the thread's first rule instead: in each replica, the other's point is
copied in with probability min(1, p(other) / p(own)), independently. It does not keep the
target invariant (it concentrates mass in high-density regions) and is offered only as a
teaching tool.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import types

from .jit import kernel
from .rng import randint, uniform

__all__ = ["swap_sweep", "SwapInfo", "rung_assignment", "build_kernel"]


@kernel(types.void(types.float64[:, ::1], types.float64[::1], types.uint64[:, ::1], types.int64, types.int64[::1],
                   types.int64[::1], types.float64[::1], types.int64, types.boolean, types.int64[::1], types.int64[::1],
                   types.int64[::1]),
        nogil=True, cache=True)
def swap_sweep(x, lp, rng, stream, rung_start, rung_size, betas, n_attempts, naive, attempts, accepted, ejections):
    """Swap attempts between adjacent rungs, sequential on the ensemble stream ``stream``.

    ``rung_start[r]``/``rung_size[r]`` locate rung r's contiguous block; ``attempts`` and
    ``accepted`` (length rungs - 1) count per adjacent pair; ``ejections[0]`` counts
    accepted cold<->first-hot swaps where the cold walker had the lower lp.
    """
    K = betas.shape[0]
    d = x.shape[1]
    for _ in range(n_attempts):
        r = randint(rng, stream, K - 1)
        i = rung_start[r] + randint(rng, stream, rung_size[r])
        j = rung_start[r + 1] + randint(rng, stream, rung_size[r + 1])
        attempts[r] += 1
        if naive:
            # the thread's first rule: each replica independently copies the other's point
            ui = uniform(rng, stream)
            uj = uniform(rng, stream)
            take_i = math.log(ui) < lp[j] - lp[i]
            take_j = math.log(uj) < lp[i] - lp[j]
            lpi = lp[i]
            lpj = lp[j]
            if take_i and take_j:
                for k in range(d):
                    t = x[i, k]
                    x[i, k] = x[j, k]
                    x[j, k] = t
                lp[i] = lpj
                lp[j] = lpi
            elif take_i:
                for k in range(d):
                    x[i, k] = x[j, k]
                lp[i] = lpj
            elif take_j:
                for k in range(d):
                    x[j, k] = x[i, k]
                lp[j] = lpi
            if take_i or take_j:
                accepted[r] += 1
            continue
        log_a = (betas[r] - betas[r + 1]) * (lp[j] - lp[i])
        if log_a >= 0.0 or math.log(uniform(rng, stream)) < log_a:
            if r == 0 and lp[i] < lp[j]:
                ejections[0] += 1
            for k in range(d):
                t = x[i, k]
                x[i, k] = x[j, k]
                x[j, k] = t
            t = lp[i]
            lp[i] = lp[j]
            lp[j] = t
            accepted[r] += 1


def rung_assignment(walkers: int, rungs: int) -> np.ndarray:
    """Rung of each walker: ``rungs`` contiguous, (nearly) equal blocks; walker 0 is cold."""
    return (np.arange(walkers) * rungs) // walkers


class SwapInfo(NamedTuple):
    attempts: np.ndarray  # per adjacent pair
    accepted: np.ndarray  # per adjacent pair
    ejections: int

    @property
    def acceptance(self) -> float:
        a = int(self.attempts.sum())
        return float(self.accepted.sum()) / a if a else float("nan")


def build_kernel(rung: np.ndarray, betas: np.ndarray, naive: bool = False):
    """``step(state, n_attempts) -> (state, SwapInfo)``: the swap move; the ensemble stream drives it.

    ``rung[i]`` is walker i's rung (`rung_assignment`), ``betas[r]`` = 1 / T_r; ``naive``
    selects the thread's first (biased) rule.
    """
    rung = np.asarray(rung)
    rungs = len(betas)
    betas = np.asarray(betas, dtype=np.float64)
    sizes = np.array([(rung == r).sum() for r in range(rungs)], dtype=np.int64)
    if np.any(sizes < 1):
        raise ValueError(f"every rung needs at least one walker: {rung.size} walkers, {rungs} rungs")
    starts = np.array([np.flatnonzero(rung == r)[0] for r in range(rungs)], dtype=np.int64)

    def step(state, n_attempts: int):
        attempts = np.zeros(max(rungs - 1, 1), dtype=np.int64)
        accepted = np.zeros_like(attempts)
        ej = np.zeros(1, dtype=np.int64)
        if rungs > 1 and n_attempts > 0:
            swap_sweep(state.positions, state.log_density, state.rng, state.walkers, starts, sizes, betas,
                       int(n_attempts), bool(naive), attempts, accepted, ej)
        return state, SwapInfo(attempts, accepted, int(ej[0]))

    return step
