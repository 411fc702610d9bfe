"""Funnel and stiff-wells: known moments of the exact draws and closed-form log densities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mdhmc import targets
from mdhmc.targets import builtin

N = 20000


@pytest.mark.parametrize("dim", [2, 10])
def test_funnel_exact_v_has_sd_3(dim):
    """v (the last coordinate) ~ N(0, 3^2): mean and sd within 4 standard errors.

    SE(mean) = 3 / sqrt(n), SE(sd) ~ 3 / sqrt(2 (n - 1)) for normal data.
    """
    X = targets.get("funnel", dim).sample_exact(N, np.random.default_rng(51))
    v = X[:, -1]
    assert abs(v.mean()) < 4 * 3.0 / np.sqrt(N)
    assert abs(v.std(ddof=1) - 3.0) < 4 * 3.0 / np.sqrt(2 * (N - 1))


def test_funnel_exact_x_given_v_has_sd_exp_v_over_2():
    """x_i exp(-v / 2) ~ N(0, 1) independently of v: sd 1 within 4 SE, for each i."""
    X = targets.get("funnel", 10).sample_exact(N, np.random.default_rng(52))
    z = X[:, :-1] * np.exp(-X[:, -1:] / 2.0)
    se = 1.0 / np.sqrt(2 * (N - 1))
    assert np.all(np.abs(z.std(axis=0, ddof=1) - 1.0) < 4 * se)
    assert np.all(np.abs(z.mean(axis=0)) < 4 / np.sqrt(N))


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_funnel_log_density_is_the_funnel(dim):
    """Differences of log_density equal those of log N(v; 0, 9) + sum log N(x_i; 0, e^v)."""
    t = targets.get("funnel", dim)
    rng = np.random.default_rng(53)
    X = np.concatenate([t.sample_exact(40, rng), rng.uniform(-5, 5, (20, dim))])
    v, x = X[:, -1], X[:, :-1]
    ref = stats.norm.logpdf(v, 0.0, 3.0) + stats.norm.logpdf(x, 0.0, np.exp(v / 2.0)[:, None]).sum(axis=1)
    got = t.log_density_batch(X)
    assert got.shape == (X.shape[0],) and np.all(np.isfinite(got))
    d_got, d_ref = got - got[0], ref - ref[0]
    np.testing.assert_allclose(d_got, d_ref, rtol=1e-9, atol=1e-9 * (1 + np.abs(d_ref).max()))


def test_funnel_dim10_single_point():
    t = targets.get("funnel", 10)
    x = np.zeros(10)
    x[-1] = 1.0
    x[0] = 2.0
    # -v^2/18 - 9 v / 2 - x_0^2 e^{-v} / 2
    assert t.log_density(x) == pytest.approx(-1.0 / 18.0 - 4.5 - 2.0 * np.exp(-1.0), rel=1e-12)


def test_wells_span_the_documented_ranges():
    mu, sd = builtin.wells(1000)
    assert mu.shape == sd.shape == (1000,)
    assert np.all((mu >= -10.0) & (mu <= 10.0))
    assert mu.min() < -9.9 and mu.max() > 9.9
    assert np.all((sd >= 0.01) & (sd <= 2.0))
    assert sd.min() == pytest.approx(0.01, rel=0.02)
    assert sd.max() == pytest.approx(2.0, rel=0.02)
    # log-uniform-ish: log(sd) and mu are spread evenly (low-discrepancy sequences)
    u = np.log(sd / 0.01) / np.log(200.0)
    assert stats.kstest(u, "uniform").statistic < 0.01
    assert stats.kstest((mu + 10.0) / 20.0, "uniform").statistic < 0.01


def test_wells_do_not_depend_on_dim():
    mu100, sd100 = builtin.wells(100)
    mu1000, sd1000 = builtin.wells(1000)
    np.testing.assert_array_equal(mu100, mu1000[:100])
    np.testing.assert_array_equal(sd100, sd1000[:100])


@pytest.mark.parametrize("dim", [1, 100])
def test_stiff_wells_log_density_and_draws(dim):
    t = targets.get("stiff-wells", dim)
    mu, sd = builtin.wells(dim)
    rng = np.random.default_rng(54)
    X = np.concatenate([t.sample_exact(20, rng), rng.uniform(-16, 16, (5, dim))])
    np.testing.assert_allclose(t.log_density_batch(X), -0.5 * (((X - mu) / sd) ** 2).sum(axis=1), rtol=1e-12)
    assert t.log_density(np.ascontiguousarray(mu)) == 0.0
    # exact draws: standardised they are N(0, 1)
    Z = ((t.sample_exact(4000, rng) - mu) / sd).ravel()
    assert abs(Z.mean()) < 4 / np.sqrt(Z.size)
    assert abs(Z.std() - 1.0) < 4 / np.sqrt(2 * Z.size)
    # every well is inside the plotting/start box (by >= 3 sd; |mu| + 3 sd <= 16 for all
    # of the first 1000 wells, the worst is 3.46 sd)
    box = t.box()
    assert np.all(mu - 3 * sd > box[:, 0]) and np.all(mu + 3 * sd < box[:, 1])
