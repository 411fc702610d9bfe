"""The shared pieces of the sampler core: the one kernel contract, the Hamiltonian helpers,
the Robbins-Monro adaptation (frozen after warm-up), the schedule of weighted moves, and
the `Sampler` API the dashboard and the CLI read (record keys, history size, atomic
updates)."""

import math
from typing import NamedTuple

import numpy as np
import pytest

from mdhmc import targets
from mdhmc.sampler import (EnsembleState, Sampler, Settings, SettingsError, diffusion, hmc, init, metropolis,
                           tempering, trim)
from mdhmc.sampler.adaptation import RobbinsMonro
from mdhmc.sampler.hamiltonian import diagonal_mass, drift, kick, kinetic
from mdhmc.sampler.moves import HMCMove, MetropolisMove, Schedule
from mdhmc.sampler.rng import seed_streams, uniform


# ------------------------------------------------------------------ one contract for every stage
def _steps(target):
    rung = tempering.rung_assignment(32, 2)
    betas = np.array([1.0, 0.5])
    return {
        "diffusion": lambda st: diffusion.build_kernel(target)(st, diffusion.DiffusionParams.from_settings(Settings(steps=5))),
        "metropolis": lambda st: metropolis.build_kernel(target, rung, betas)(st, np.array([0.5, 0.8]), 2),
        "tempering": lambda st: tempering.build_kernel(rung, betas)(st, 20),
        "hmc": lambda st: hmc.build_kernel(target)(st, 0.1, 5),
        "trim": lambda st: trim.build_kernel(1.0)(st),
    }


@pytest.mark.parametrize("stage", ["diffusion", "metropolis", "tempering", "hmc", "trim"])
def test_every_stage_steps_state_to_state_and_info(stage):
    target = targets.get("scorpio")
    state = init(target, 32, 1)
    before = state.copy()
    new, info = _steps(target)[stage](state)
    assert isinstance(new, EnsembleState) and new.positions is state.positions  # updated in place
    assert isinstance(info, tuple) and hasattr(info, "_fields")  # a NamedTuple, apart from the state
    assert not np.array_equal(new.rng, before.rng)  # it drew from the streams
    np.testing.assert_allclose(new.log_density, target.log_density_batch(new.positions), rtol=1e-12)


# ------------------------------------------------------------------ Hamiltonian pieces
def test_diagonal_mass_checks_its_shape():
    inv, sq = diagonal_mass((1.0, 4.0), 2)
    np.testing.assert_array_equal(inv, [1.0, 0.25])
    np.testing.assert_array_equal(sq, [1.0, 2.0])
    np.testing.assert_array_equal(diagonal_mass(None, 3)[0], np.ones(3))
    with pytest.raises(ValueError, match="mass must have 3 entries, got 2"):
        diagonal_mass((1.0, 2.0), 3)


def test_kinetic_energy_and_leapfrog_conserve_a_harmonic_oscillator():
    """U = x'x/2, mass (1, 4): K = p' M^-1 p / 2, and 1,000 leapfrog steps of kick/drift/kick
    keep H within O(eps^2) (a wrong sign or a missing M^-1 drifts it far off)."""
    inv_mass = np.array([1.0, 0.25])
    p = np.array([1.0, 2.0])
    assert kinetic(p, inv_mass) == pytest.approx(0.5 * (1.0 + 4.0 * 0.25))
    x = np.array([1.0, -0.5])
    eps = 0.05
    h0 = 0.5 * x @ x + kinetic(p, inv_mass)
    for _ in range(1000):
        kick(p, -x, 0.5 * eps)
        drift(x, p, eps, inv_mass)
        kick(p, -x, 0.5 * eps)
        assert abs(0.5 * x @ x + kinetic(p, inv_mass) - h0) < 2 * eps ** 2


# ------------------------------------------------------------------ adaptation
def test_robbins_monro_moves_toward_the_target_and_respects_its_limits():
    rule = RobbinsMonro(0.5, -1.0, 1.0)
    st = rule.init(1.0, 2)
    st = rule.update(st, np.array([0.9, 0.1]))  # too many accepted: grow; too few: shrink
    assert st.t == 1
    np.testing.assert_allclose(st.log_scale, [0.8, -0.8])
    st = rule.update(st, np.array([1.0, 0.0]))
    np.testing.assert_allclose(st.log_scale, [1.0, -1.0])  # clipped
    np.testing.assert_allclose(st.scale, [math.e, 1 / math.e])


def _adapting_move(kind):
    target = targets.get("funnel", 10)
    if kind == "metropolis":
        return MetropolisMove(target, np.zeros(64, dtype=np.int64), np.array([1.0]), 0.234), target
    return HMCMove(target, None, 0.8, 0.1), target


@pytest.mark.parametrize("kind", ["metropolis", "hmc"])
def test_adaptation_changes_the_scale_in_warmup_only(kind):
    move, target = _adapting_move(kind)
    state = init(target, 64, 2)
    s = Settings(walkers=64, hmc_steps=5)
    key = "scale" if kind == "metropolis" else "step_size"
    warm = [move.run(state, s, adapt=True).fields[key] for _ in range(5)]
    assert len(set(warm)) == 5, warm  # adapting: a new scale every sweep
    frozen = [move.run(state, s, adapt=False).fields[key] for _ in range(5)]
    assert frozen == [warm[-1]] * 5, frozen
    assert move.adaptation.t == 5


def test_sampler_freezes_the_scale_when_it_starts_recording():
    s = Sampler(targets.get("scorpio"), Settings.thread(walkers=64, sweeps=12, warmup=4, seed=1), stage="metropolis")
    recs = [s.sweep() for _ in range(12)]
    assert [r["recording"] for r in recs] == [False] * 4 + [True] * 8
    scales = [r["scale"] for r in recs]
    assert len(set(scales[:4])) == 4 and set(scales[4:]) == {scales[3]}


def test_fixed_metropolis_scale_never_adapts():
    s = Sampler(targets.get("scorpio"), Settings.thread(walkers=64, warmup=4, metropolis_scale=0.7), stage="metropolis")
    assert {s.sweep()["scale"] for _ in range(6)} == {0.7}


# ------------------------------------------------------------------ the schedule of moves
class _Named(NamedTuple):
    name: str


def test_one_move_schedule_draws_nothing():
    state = EnsembleState(np.zeros((4, 1)), np.zeros(4), seed_streams(0, 4))
    rng = state.rng.copy()
    only = _Named("only")
    assert all(Schedule([(only, 1.0)]).choose(state) is only for _ in range(10))
    np.testing.assert_array_equal(state.rng, rng)


def test_schedule_picks_the_first_move_whose_cumulative_weight_exceeds_u():
    """Weights 1:2:1 -> cumulative 0.25, 0.75, 1; u from the ensemble stream decides, and
    equal halves reproduce the former tempering coin ``u < 0.5`` draw for draw."""
    moves = [_Named("a"), _Named("b"), _Named("c")]
    sched = Schedule(list(zip(moves, [1.0, 2.0, 1.0])))
    np.testing.assert_array_equal(sched.cumulative, [0.25, 0.75, 1.0])
    state = EnsembleState(np.zeros((4, 1)), np.zeros(4), seed_streams(3, 4))
    shadow = state.rng.copy()
    picks = []
    for _ in range(20_000):
        u = uniform(shadow, 4)
        got = sched.choose(state).name
        assert got == ("a" if u < 0.25 else "b" if u < 0.75 else "c")
        picks.append(got)
    freq = {k: picks.count(k) / len(picks) for k in "abc"}
    assert abs(freq["a"] - 0.25) < 0.015 and abs(freq["b"] - 0.5) < 0.015, freq  # 5 binomial sd
    coin = Schedule([(moves[0], 0.5), (moves[1], 0.5)])
    for _ in range(200):
        u = uniform(shadow, 4)
        assert coin.choose(state).name == ("a" if u < 0.5 else "b")


def test_schedule_refuses_bad_weights():
    with pytest.raises(ValueError, match="positive"):
        Schedule([(_Named("a"), 1.0), (_Named("b"), 0.0)])
    with pytest.raises(ValueError, match="at least one move"):
        Schedule([])


def test_phases_are_schedules_of_the_stated_moves():
    # the thread's mix (random-walk Metropolis only); other mixes: tests/sampler/test_ensemble_moves.py
    s = Sampler(targets.get("scorpio"), Settings.thread(walkers=64, diffusion_sweeps=1, warmup=2))
    assert [m.name for m in s.schedule.moves] == ["diffusion"]
    s.sweep()
    assert s.phase == "tempering"
    assert [m.name for m in s.schedule.moves] == ["metropolis", "swap"]
    np.testing.assert_array_equal(s.schedule.cumulative, [0.5, 1.0])
    moves = [s.sweep()["move"] for _ in range(40)]
    assert {"metropolis", "swap"} == set(moves)
    s.set_stage("hmc")
    assert [m.name for m in s.schedule.moves] == ["hmc"] and set(s.moves) == {"diffusion", "metropolis", "swap", "hmc"}


# ------------------------------------------------------------------ what the dashboard and the CLI read
RECORD_KEYS = {  # as before the refactor, in order (the thread's moves), plus pair_acceptance (issue 11)
    ("diffusion", None): ["mean_U", "mean_K", "mean_H", "mean_herr", "mean_abs_herr", "chosen_herr", "tracked_U",
                          "tracked_K", "tracked_H", "tracked_herr", "lp_evals", "grad_evals", "steps", "triggers",
                          "abandoned"],
    ("metropolis", None): ["acceptance", "scale", "lp_evals", "steps", "nonfinite"],
    ("tempering", "metropolis"): ["move", "acceptance", "acceptance_hot", "scale", "lp_evals", "steps", "nonfinite",
                                  "pair_acceptance"],
    ("tempering", "swap"): ["move", "swap_acceptance", "ejections", "swap_attempts", "swaps", "pair_acceptance"],
    ("hmc", None): ["acceptance", "step_size", "lp_evals", "grad_evals", "steps", "divergences"],
}


def test_sweep_records_keep_their_keys():
    # the thread's algorithm (Settings.thread) records exactly the keys it did; the new
    # defaults add two diffusion keys (issue 10), checked below
    seen = {}
    for stage in ["diffusion", "metropolis", "tempering", "hmc", "pipeline"]:
        s = Sampler(targets.get("scorpio"), Settings.thread(walkers=32, steps=5, diffusion_sweeps=2, warmup=2, seed=3),
                    stage=stage)
        for _ in range(14):
            r = s.sweep()
            seen.setdefault((r["phase"], r.get("move")), list(r))
    assert set(seen) == set(RECORD_KEYS)
    for key, keys in seen.items():
        assert keys == ["stage", "phase", "sweep"] + RECORD_KEYS[key] + ["recording", "wall_s", "mean_lp_cold"], key


def test_default_diffusion_records_add_the_adapted_step_size_and_the_searchers():
    s = Sampler(targets.get("scorpio"), Settings(walkers=32, steps=5, seed=3), stage="diffusion")
    keys = list(s.sweep())
    base = RECORD_KEYS[("diffusion", None)]
    extra = ["diffusion_step_size"]
    assert keys == (["stage", "phase", "sweep"] + base[:6] + extra + base[6:] + ["searching"]
                    + ["recording", "wall_s", "mean_lp_cold"])


def test_history_size_caps_the_history_across_resets():
    s = Sampler(targets.get("scorpio"), Settings(walkers=16, steps=3), stage="diffusion", history_size=5)
    for _ in range(8):
        s.sweep()
    assert len(s.history) == 5 and s.history[-1]["sweep"] == 7
    s.update(seed=9)
    assert len(s.history) == 0 and s.history.maxlen == 5


def test_a_refused_update_changes_nothing():
    s = Sampler(targets.get("scorpio"), Settings(walkers=16, rungs=2), stage="tempering")
    s.sweep()
    with pytest.raises(SettingsError, match="at least 20 walkers"):
        s.update(rungs=10)
    assert s.settings.rungs == 2 and len(s.temperatures) == 2
    s.sweep()
    with pytest.raises(SettingsError):
        s.update(walkers=3, rungs=2)  # a reset that the ladder refuses
    assert s.settings.walkers == 16 and s.state.walkers == 16
    s.sweep()
