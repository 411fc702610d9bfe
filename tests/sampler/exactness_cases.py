"""Runs from exact starts shared by the exactness tests of the ensemble moves and the ladder,
and by `measure_false_alarms.py`, which measures their false-alarm rates over many seeds."""

from __future__ import annotations

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings
from mdhmc.sampler.ensemble import init
from mdhmc.sampler.moves import EnsembleMove, MetropolisMove, Schedule, mix_names
from mdhmc.targets.builtin import SCORPIO
from sampler_models import _COV, correlated_gaussian
from stat_helpers import compare_replicates, compare_to_truth, gaussian_truth

WALKERS = 512
REPLICATES = 8


def truth_for(case: str, temperature: float = 1.0) -> dict:
    """Closed-form moments of ``case`` at ``temperature`` (corr-gauss only for T != 1: a
    tempered Gaussian is the Gaussian with covariance x T)."""
    if case == "scorpio":
        assert temperature == 1.0
        return gaussian_truth(SCORPIO.weights, SCORPIO.means, SCORPIO.covs)
    return gaussian_truth([1.0], [[0.0, 0.0]], [_COV * temperature])


def target_for(case: str):
    return targets.get("scorpio") if case == "scorpio" else correlated_gaussian()


def run_move(case: str, moves: str, seed: int, record: int = 400, warmup: int = 50, replicates: int = REPLICATES,
             walkers: int = WALKERS):
    """The mix ``moves`` at T = 1 on ``replicates`` independent ensembles of ``walkers //
    replicates`` walkers each, from exact draws: ``warmup`` adapting sweeps, then ``record``
    recorded ones. Returns the recorded draws of each replicate.

    The replicates run in one ensemble whose "rungs" all sit at T = 1 with no swaps: every
    move takes its proposals from the walker's own rung, so the rungs are independent
    ensembles (the same kernels and the same `Schedule` the `Sampler` runs, in one call per sweep).
    """
    target = target_for(case)
    per = walkers // replicates
    n = per * replicates
    rung = np.repeat(np.arange(replicates), per)
    betas = np.ones(replicates)
    state = init(target, n, seed, positions=target.sample_exact(n, np.random.default_rng(seed)))
    settings = Settings(walkers=n, moves=moves)
    built = {name: (MetropolisMove(target, rung, betas, settings.target_accept_for(target.dim))
                    if name == "metropolis" else EnsembleMove(name, target, rung, betas))
             for name in mix_names(moves)}
    schedule = Schedule([(m, 1.0) for m in built.values()])
    draws = []
    for k in range(warmup + record):
        schedule.choose(state).run(state, settings, adapt=k < warmup)
        if k >= warmup:
            draws.append(state.positions.copy())
    draws = np.array(draws)
    return [draws[:, rung == r] for r in range(replicates)]


def check_move(case: str, moves: str, seed: int, **kw) -> tuple[bool, list]:
    rows, ok = compare_replicates(run_move(case, moves, seed, **kw), truth_for(case))
    return ok, rows


def run_ladder(seed: int, t_hot: float = 30.0, warmup: int = 200, record: int = 600, moves: str = "de+rwm",
               naive_swap: bool = False, walkers: int = 500):
    """Stage tempering on corr-gauss with rungs = auto (4 rungs up to T = 30, half the walkers
    cold, the hot rungs a sixth each) from exact draws at each rung's starting temperature;
    the warm-up respaces the ladder and equilibrates. Returns (sampler, per-rung recorded draws)."""
    target = correlated_gaussian()
    settings = Settings(walkers=walkers, sweeps=warmup + record, warmup=warmup, seed=seed, t_hot=t_hot,
                        moves=moves, swaps_per_walker=2.0, naive_swap=naive_swap)
    s = Sampler(target, settings, stage="tempering")
    start = target.sample_exact(walkers, np.random.default_rng(seed)) * np.sqrt(s.temperatures[s.rung])[:, None]
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
    x 5 moments at alpha 0.25% each (Bonferroni: <= 5% family-wise), MCSE from 10 batch means
    of 60 sweeps (20 batches of 20 sweeps gave 4 false alarms in 24 seeds)."""
    s, per_rung = run_ladder(seed, **kw)
    ok, all_rows = True, []
    for r, draws in enumerate(per_rung):
        rows, good = compare_to_truth(draws, truth_for("corr-gauss", float(s.temperatures[r])), alpha=0.0025,
                                      batches=10)
        ok &= good
        all_rows += [(f"T{r} {row[0]}",) + tuple(row[1:]) for row in rows]
    return ok, all_rows
