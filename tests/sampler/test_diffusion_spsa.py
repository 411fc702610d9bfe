"""SPSA gradient estimates and the momentum-diffusion dynamics (thermostat, hot start,
trigger, non-finite densities).

SPSA checks compare the mean of 40,000 estimates with the true gradient per component at
|z| <= 3.89 (two-sided 1e-4 each; 6 comparisons per test: family-wise < 0.1%).
"""

import math

import numba as nb
import numpy as np
import pytest

from mdhmc import targets
from mdhmc.sampler import Sampler, Settings, diffusion
from mdhmc.sampler.ensemble import init
from mdhmc.sampler.rng import seed_streams
from mdhmc.sampler.spsa import spsa_gradient
from sampler_models import correlated_gaussian, iso_gaussian, nan_region
from mdhmc.targets import Target

Z = 3.89


@nb.njit(cache=True)
def quad_lp(x):
    # lp = -1/2 x'Ax + b'x with a non-diagonal A: gradient -Ax + b
    return -0.5 * (2.0 * x[0] * x[0] + 2.0 * 0.6 * x[0] * x[1] + 1.0 * x[1] * x[1] + 3.0 * x[2] * x[2]) + x[0] - 2.0 * x[2]


def quad_grad(x):
    return np.array([-(2.0 * x[0] + 0.6 * x[1]) + 1.0, -(0.6 * x[0] + x[1]), -3.0 * x[2] - 2.0])


@nb.njit(cache=True)
def cubic_lp(x):
    return x[0] ** 3 + x[1] * x[2]


def spsa_estimates(lp, x, n, c, k, two_sided, seed=0):
    rng = seed_streams(seed, n)
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((n, x.size))
    scratch = np.empty((2, x.size))
    lpx = lp(x)
    for i in range(n):
        spsa_gradient(lp, x, lpx, float(c), int(k), bool(two_sided), np.ones(x.size), rng, i, scratch[0], scratch[1],
                      out[i])
    return out


def bias_z(estimates, truth):
    m = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / math.sqrt(len(estimates))
    return (m - truth) / se


@pytest.mark.parametrize("two_sided,k", [(False, 1), (True, 1), (False, 4)])
def test_spsa_is_unbiased_for_a_quadratic(two_sided, k):
    x = np.array([0.7, -1.3, 0.4])
    est = spsa_estimates(quad_lp, x, 40_000, c=0.3, k=k, two_sided=two_sided)
    z = bias_z(est, quad_grad(x))
    assert np.all(np.abs(z) < Z), z


def test_spsa_averaging_divides_the_variance():
    x = np.array([0.7, -1.3, 0.4])
    v1 = spsa_estimates(quad_lp, x, 20_000, 0.1, 1, False).var(axis=0)
    v4 = spsa_estimates(quad_lp, x, 20_000, 0.1, 4, False, seed=1).var(axis=0)
    assert np.all(np.abs(v1 / v4 - 4.0) < 0.4), v1 / v4


def test_negative_control_spsa_on_a_cubic_with_large_c_is_biased():
    """The same check must fail where SPSA is biased: x0^3 gives bias c^2 in component 0."""
    x = np.array([0.5, 1.0, -1.0])
    est = spsa_estimates(cubic_lp, x, 40_000, c=0.5, k=1, two_sided=True)
    truth = np.array([3 * 0.25, -1.0, 1.0])
    z = bias_z(est, truth)
    assert abs(z[0]) > Z, z


def tracked_run(target, steps, **kw):
    settings = Settings(walkers=2, steps=steps, **kw)
    s = Sampler(target, settings, stage="diffusion", positions=np.zeros((2, target.dim)))
    s.sweep()
    return s.last_tracked


def test_thermostat_holds_the_energy_error_near_zero():
    """20,000 steps of SPSA + noise on a Gaussian: with the gain on, the time-averaged
    H error stays near 0; with it off, the noise heats the walker (negative control)."""
    target = correlated_gaussian()
    on = tracked_run(target, 20_000, step_size=0.02, viscosity_gain=2.0, noise=0.5, trigger=math.inf)
    off = tracked_run(target, 20_000, step_size=0.02, viscosity_gain=0.0, noise=0.5, trigger=math.inf)
    herr_on = on.energies[:, 3]
    herr_off = off.energies[:, 3]
    assert len(herr_on) == 20_001
    # the noise heats at a rate ~ noise^2 d / 2; the friction balances it at a small offset
    assert abs(herr_on.mean()) < 0.5, herr_on.mean()
    assert abs(herr_off.mean()) > 4 * abs(herr_on.mean()), (herr_on.mean(), herr_off.mean())


def test_hot_start_cools_back_to_the_target_energy():
    target = iso_gaussian(20)  # K(p) ~ 10, so a 3x hot start begins ~ 8 K = 80 above H*
    tr = tracked_run(target, 4000, step_size=0.02, viscosity_gain=0.2, noise=0.1, hot=3.0, trigger=math.inf)
    herr = tr.energies[:, 3]
    assert herr[0] > 20.0
    assert herr[:20].mean() > 10.0  # still hot for a while: the friction is gradual at this gain
    # cools to a small offset where friction balances the SPSA and momentum-noise heating
    assert abs(herr[-1000:].mean()) < 0.05 * herr[0]
    cold = tracked_run(target, 4000, step_size=0.02, viscosity_gain=0.0, noise=0.1, hot=3.0, trigger=math.inf)
    assert cold.energies[-1000:, 3].mean() > 0.5 * herr[0]  # without the gain it stays hot


def test_drawn_point_is_weighted_towards_small_energy_error():
    target = correlated_gaussian()
    s = Sampler(target, Settings(walkers=400, steps=100, step_size=0.05, delta=0.3), stage="diffusion")
    rec = s.sweep()
    # the drawn points' |H error| is smaller on average than the trajectories' mean |H error|
    assert abs(rec["chosen_herr"]) < rec["mean_abs_herr"]


def test_trigger_redraws_momentum_on_energy_jumps():
    target = correlated_gaussian()
    s = Sampler(target, Settings(walkers=200, steps=100, step_size=1.5, trigger=0.5), stage="diffusion")
    s.sweep()
    assert s.totals["triggers"] > 0
    s2 = Sampler(target, Settings(walkers=200, steps=100, step_size=1.5, trigger=math.inf), stage="diffusion")
    s2.sweep()
    assert s2.totals["triggers"] == 0


@pytest.mark.parametrize("stage", ["diffusion", "metropolis", "tempering", "hmc", "pipeline"])
def test_nan_region_never_reaches_the_state(stage):
    """lp is NaN for x0 > 1: trajectories/proposals there are dropped and counted."""
    target = nan_region()
    s = Sampler(target, Settings(walkers=200, steps=50, step_size=0.1, diffusion_sweeps=5, sweeps=60, warmup=20,
                                 hmc_step_size=0.5), stage=stage)
    s.run()
    assert np.all(np.isfinite(s.state.positions)) and np.all(np.isfinite(s.state.log_density))
    assert np.all(s.state.positions[:, 0] <= 1.0)
    events = s.totals["abandoned"] + s.totals["nonfinite"] + s.totals["divergences"]
    assert events > 0


def test_diffusion_kernel_api_blackjax_style():
    target = targets.get("scorpio")
    state = init(target, 64, 0)
    step = diffusion.build_kernel(target)
    params = diffusion.DiffusionParams.from_settings(Settings(steps=30))
    state2, info = step(state, params)
    assert state2 is state and info.steps == 64 * 30 and info.lp_evals == 64 * 30 * 2 + 64
    assert info.tracked.positions.shape == (31, 2) and 0 <= info.tracked.chosen <= 30
    np.testing.assert_allclose(target.log_density_batch(state.positions), state.log_density)


def test_lp_evaluations_per_step_by_gradient_mode():
    target = targets.get("scorpio")
    state = init(target, 10, 0)
    step = diffusion.build_kernel(target, tracked=-1)
    base = Settings(steps=10)
    for kw, per_step in [({}, 2), ({"spsa_two_sided": True}, 3), ({"spsa_k": 3}, 4), ({"gradient": "exact"}, 1)]:
        _, info = step(state, diffusion.DiffusionParams.from_settings(base.replace(**kw)))
        assert info.lp_evals == 10 * 10 * per_step + 10 * (per_step - 1), kw
