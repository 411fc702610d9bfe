"""Complementary-ensemble updates shared by the ensemble moves (`moves_de`, `moves_stretch`,
`moves_dime`), as emcee does them.

Every temperature rung is split in two halves (`metropolis._halves`, the same split the
random-walk kernel uses). While one half moves, the other -- its *complement* -- is held
fixed and shapes the proposal; given the complement, each moving walker takes an ordinary
Metropolis-Hastings step at its rung's temperature, so each half-update keeps the joint
target of the ensemble invariant, and so does the sweep (half A, then half B).

`halves` lays the complement out for the kernels as arrays: ``comp[off[r]:off[r] + cnt[r]]``
are the fixed walkers of rung r. A kernel runs walkers ``lo..hi-1`` of the whole ensemble
(it must read the complement wherever it lies), each on its own random stream.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .chunks import blocks
from .metropolis import _halves

__all__ = ["Half", "halves", "EnsembleInfo", "run_halves"]


class Half(NamedTuple):
    moving: np.ndarray  # bool (walkers,)
    comp: np.ndarray  # int64: the fixed walkers, grouped by rung
    off: np.ndarray  # int64 (rungs,): rung r's complement starts at comp[off[r]]
    cnt: np.ndarray  # int64 (rungs,): and has cnt[r] walkers


class EnsembleInfo(NamedTuple):
    acceptance: np.ndarray  # per rung, this sweep
    lp_evals: int
    nonfinite: int


def halves(rung: np.ndarray, rungs: int) -> tuple[Half, Half]:
    """The two half-updates of a sweep: (half A moves, B fixed), then (B moves, A fixed)."""
    rung = np.asarray(rung, dtype=np.int64)
    a, b = _halves(rung, rungs)
    out = []
    for moving, fixed in ((a, b), (b, a)):
        comp = np.concatenate([np.flatnonzero(fixed & (rung == r)) for r in range(rungs)]).astype(np.int64)
        cnt = np.array([int((fixed & (rung == r)).sum()) for r in range(rungs)], dtype=np.int64)
        off = np.concatenate([[0], np.cumsum(cnt)[:-1]]).astype(np.int64)
        out.append(Half(moving, comp, off, cnt))
    return out[0], out[1]


def run_halves(key, state, rung, rungs, walker_beta, parts, chunks, sweep, split, kernel, prepare=None):
    """One sweep: for each half, ``prepare(half)`` (e.g. fit a proposal to the complement), then
    ``kernel(compiled, lo, hi, half, walker_beta, accepted, evals, nonfinite)`` over blocks of
    walkers, ``compiled`` one of the `sampler.jit.WalkerKernel` ``sweep``'s forms (``split``: the
    move's `sampler.threads.Split`, for the serial one).
    Returns `EnsembleInfo` (acceptance per rung)."""
    n = state.walkers
    accepted = np.zeros(n, dtype=np.int64)
    evals = np.zeros(n, dtype=np.int64)
    nonfinite = np.zeros(n, dtype=np.int64)
    for half in parts:
        if prepare is not None:
            prepare(half)
        for lo, hi in blocks(chunks, key, n):
            sweep.run(split, lo, hi, lambda k, a, b: kernel(k, a, b, half, walker_beta, accepted, evals, nonfinite))
    acc = np.array([accepted[rung == r].sum() / max(1, (rung == r).sum()) for r in range(rungs)])
    return EnsembleInfo(acc, int(evals.sum()), int(nonfinite.sum()))
