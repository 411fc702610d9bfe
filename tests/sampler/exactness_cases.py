"""Runs from exact starts shared by the exactness tests of the ensemble moves and the ladder,
and by `measure_false_alarms.py`, which measures their false-alarm rates over many seeds."""

from __future__ import annotations

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings
from mdhmc.targets.builtin import SCORPIO
from sampler_models import _COV, correlated_gaussian
from stat_helpers import compare_to_truth, gaussian_truth

WALKERS = 500


def truth_for(case: str, temperature: float = 1.0) -> dict:
    """Closed-form moments of ``case`` at ``temperature`` (corr-gauss only for T != 1: a
    tempered Gaussian is the Gaussian with covariance x T)."""
    if case == "scorpio":
        assert temperature == 1.0
        return gaussian_truth(SCORPIO.weights, SCORPIO.means, SCORPIO.covs)
    return gaussian_truth([1.0], [[0.0, 0.0]], [_COV * temperature])


def target_for(case: str):
    return targets.get("scorpio") if case == "scorpio" else correlated_gaussian()


def run_move(case: str, moves: str, seed: int, record: int = 400, warmup: int = 50):
    """Stage metropolis with the mix ``moves`` from exact draws; (sampler, recorded draws)."""
    target = target_for(case)
    start = target.sample_exact(WALKERS, np.random.default_rng(seed))
    s = Sampler(target, Settings(walkers=WALKERS, sweeps=warmup + record, warmup=warmup, seed=seed, moves=moves),
                stage="metropolis", positions=start)
    s.run()
    return s, np.array(s.draws)


def check_move(case: str, moves: str, seed: int, **kw) -> tuple[bool, list]:
    _, draws = run_move(case, moves, seed, **kw)
    rows, ok = compare_to_truth(draws, truth_for(case))
    return ok, rows


def run_ladder(seed: int, t_hot: float = 30.0, warmup: int = 200, record: int = 400, moves: str = "de+rwm",
               naive_swap: bool = False):
    """Stage tempering on corr-gauss with rungs = auto (4 rungs up to T = 30, half the walkers
    cold, the hot rungs a sixth each) from exact draws at each rung's starting temperature;
    the warm-up respaces the ladder and equilibrates. Returns (sampler, per-rung recorded draws)."""
    target = correlated_gaussian()
    settings = Settings(walkers=WALKERS, sweeps=warmup + record, warmup=warmup, seed=seed, t_hot=t_hot,
                        moves=moves, swaps_per_walker=2.0, naive_swap=naive_swap)
    s = Sampler(target, settings, stage="tempering")
    start = target.sample_exact(WALKERS, np.random.default_rng(seed)) * np.sqrt(s.temperatures[s.rung])[:, None]
    s = Sampler(target, settings, stage="tempering", positions=start)
    per_rung = [[] for _ in s.temperatures]
    for _ in range(warmup + record):
        s.sweep()
        if s.recording:
            for r in range(len(per_rung)):
                per_rung[r].append(s.state.positions[s.rung == r].copy())
    return s, [np.array(p) for p in per_rung]


def check_ladder(seed: int, **kw) -> tuple[bool, list]:
    """Every rung's moments against the tempered Gaussian's at its (frozen) temperature: 4 rungs
    x 5 moments at alpha 0.25% each (Bonferroni: <= 5% family-wise)."""
    s, per_rung = run_ladder(seed, **kw)
    ok, all_rows = True, []
    for r, draws in enumerate(per_rung):
        rows, good = compare_to_truth(draws, truth_for("corr-gauss", float(s.temperatures[r])), alpha=0.0025)
        ok &= good
        all_rows += [(f"T{r} {row[0]}",) + tuple(row[1:]) for row in rows]
    return ok, all_rows
