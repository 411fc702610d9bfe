"""The ensemble moves (DE, stretch, DIME) keep the target invariant, mixed by weights.

Design (the shared helper `stat_helpers.compare_replicates`): 8 independent replicate
ensembles of 64 walkers (`exactness_cases.run_move`: rungs at T = 1, no swaps, so each
rung is its own ensemble) start at exact draws and run one move (or a mix) for 50 + 400
sweeps; 5 moments of the recorded draws (means, second moments, cross moment) are compared
with their closed-form values, MCSE = sd of the 8 replicate estimates / sqrt(8), threshold
Student's t (7 df) at alpha = 1% per moment (<= 5% family-wise by Bonferroni). Seeds are
fixed, so outcomes are deterministic. Negative control: each move at the wrong temperature
(beta = 0.8) must fail the same check.

Measured family-wise false-alarm rate (``python tests/sampler/measure_false_alarms.py moves
--case corr-gauss:de --seeds 24``, seeds 100-123): 4 of 24 = 17%, above the nominal 5%. The
4 seeds show no common direction (DE's pooled E y^2 over seeds 100/113/114/118: 3.94, 3.93,
3.99, 4.07; random-walk Metropolis on the same seeds 3.97, 4.01, 4.04, 3.89), so we read it
as replicate estimates within a seed spreading less than across seeds, not as a bias; the
cause is not found yet. The fixed seed here passes.

Not here: the stretch move on scorpio. It is exact, but it moves mass between scorpio's
body and tail so slowly that a 400-sweep run's errors are large (|t| up to 10 on 2 of 3
seeds with batch means; a 3,000-sweep run passes); the DE and DIME moves jump between them.
"""

import numpy as np
import pytest

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings, moves_de, moves_dime, moves_stretch
from mdhmc.sampler.ensemble import init
from mdhmc.sampler.moves import mix_names, phase_moves
from exactness_cases import WALKERS, check_move, truth_for
from sampler_models import correlated_gaussian
from stat_helpers import compare_to_truth, format_rows

CASES = [("corr-gauss", "de"), ("corr-gauss", "stretch"), ("corr-gauss", "dime"), ("corr-gauss", "de+rwm"),
         ("scorpio", "de"), ("scorpio", "dime")]
KERNELS = {"de": moves_de.build_kernel, "stretch": moves_stretch.build_kernel, "dime": moves_dime.build_kernel}


@pytest.mark.parametrize("case,moves", CASES)
def test_move_keeps_the_target(case, moves):
    ok, rows = check_move(case, moves, seed=1)
    assert ok, f"{moves} on {case} differs from the closed-form moments:\n{format_rows(rows)}"


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_negative_control_move_at_the_wrong_temperature_fails(name):
    """The same kernel targeting exp(0.8 lp): the check must catch it."""
    target = correlated_gaussian()
    state = init(target, WALKERS, 5, positions=target.sample_exact(WALKERS, np.random.default_rng(5)))
    step = KERNELS[name](target, np.zeros(WALKERS, dtype=np.int64), np.array([0.8]))
    draws = []
    for k in range(450):
        step(state)
        if k >= 50:
            draws.append(state.positions.copy())
    rows, ok = compare_to_truth(np.array(draws), truth_for("corr-gauss"))
    assert not ok, f"{name} at the wrong temperature passed the exactness check:\n{format_rows(rows)}"


def test_moves_mix_by_weights_and_the_thread_mix_is_rwm_alone():
    assert mix_names("de+rwm") == ("de", "metropolis")
    assert phase_moves("rwm")["tempering"] == (("metropolis", 0.5), ("swap", 0.5))  # the thread's coin
    assert phase_moves("de+stretch+rwm")["tempering"] == (("de", 0.5 / 3), ("stretch", 0.5 / 3),
                                                           ("metropolis", 0.5 / 3), ("swap", 0.5))
    assert Settings.thread().moves == "rwm"
    s = Sampler(targets.get("scorpio"), Settings(walkers=64, warmup=2, moves="de+stretch+rwm"), stage="metropolis")
    picked = {s.sweep()["move"] for _ in range(40)}
    assert picked == {"de", "stretch", "metropolis"}


def test_ensemble_moves_give_the_same_draws_in_blocks_and_at_any_thread_count():
    """Per-walker streams: blocks of walkers (`sampler.chunks`) and numba's thread count change
    nothing."""
    import numba

    from mdhmc.sampler.chunks import Chunks

    target = targets.get("banana")
    out = []
    for threads, chunks in ((1, None), (numba.config.NUMBA_NUM_THREADS, Chunks(1e-6, min_size=7))):
        numba.set_num_threads(threads)
        try:
            for name, build in KERNELS.items():
                state = init(target, 60, 3)
                rung = np.repeat([0, 1], 30)
                step = build(target, rung, np.array([1.0, 0.4]))
                for _ in range(5):
                    step(state, chunks)
                out.append((name, state.positions.copy()))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    half = len(out) // 2
    for (name, a), (_, b) in zip(out[:half], out[half:]):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_dime_fits_its_independence_proposal_to_the_complement():
    """DIME's t proposal sits where the complement is: walkers far out in a tail come in."""
    target = correlated_gaussian()
    x = target.sample_exact(200, np.random.default_rng(0))
    x[::2] += 50.0  # half A far away; half B (the complement of A) in the bulk
    state = init(target, 200, 0, positions=x)
    step = moves_dime.build_kernel(target, np.zeros(200, dtype=np.int64), np.array([1.0]), aimh=1.0)
    step(state)
    moved = np.linalg.norm(state.positions[::2] - x[::2], axis=1) > 10
    assert moved.mean() > 0.5  # independence proposals from the bulk are accepted at once
