"""Mixture targets (scorpio, multimodal): weights, names, component_of, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mdhmc import targets

MIXTURES = ("scorpio", "multimodal")
N = 4000


@pytest.mark.parametrize("name", targets.names())
def test_mixture_flags_and_weights_sum_to_one(name):
    t = targets.get(name)
    assert t.is_mixture == (name in MIXTURES)
    if t.is_mixture:
        w = np.asarray(t.component_weights)
        assert w.ndim == 1 and np.all(w > 0)
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert len(t.component_names) == w.size
        np.testing.assert_array_equal(t.params["mixture"].weights, w)


def test_scorpio_components_are_the_documented_ones():
    t = targets.get("scorpio")
    assert tuple(t.component_weights) == (0.5, 0.1, 0.1, 0.3)
    assert t.component_names == ("body", "tail 1", "tail 2", "stinger")


def test_component_weights_are_a_copy():
    """Mutating a target's weights must not change the kernels' constants."""
    t = targets.get("scorpio")
    assert t.component_weights is not t.params["mixture"].weights


@pytest.mark.parametrize("name, min_frac", [("scorpio", 0.80), ("multimodal", 0.99)])
def test_component_of_recovers_the_component(name, min_frac):
    """Draws of component k alone are labelled k (mostly: scorpio's pieces overlap)."""
    t = targets.get(name)
    mix = t.params["mixture"]
    rng = np.random.default_rng(31)
    for k, cname in enumerate(t.component_names):
        X = mix.sample_component(k, N, rng)
        lab = np.asarray(t.component_of(X))
        assert lab.shape == (N,) and np.issubdtype(lab.dtype, np.integer)
        frac = np.mean(lab == k)
        assert frac >= min_frac, f"{name}: only {frac:.3f} of {cname!r} draws labelled {k}"


@pytest.mark.parametrize("name", MIXTURES)
def test_component_fractions_of_exact_draws_match_weights(name):
    """component_of on 4000 exact draws gives fractions within 4 binomial sd of the weights.

    (component_of is the most responsible component, so the expected fractions differ
    slightly from the weights where components overlap; for scorpio the largest such
    shift is ~0.005, about one binomial sd at n = 4000.)
    """
    t = targets.get(name)
    X = t.sample_exact(N, np.random.default_rng(32))
    lab = np.asarray(t.component_of(X))
    w = np.asarray(t.component_weights)
    frac = np.bincount(lab, minlength=w.size) / N
    sd = np.sqrt(w * (1 - w) / N)
    assert np.all(np.abs(frac - w) <= 4 * sd), f"{name}: fractions {frac} vs weights {w}"


@pytest.mark.parametrize("name", MIXTURES)
def test_mixture_log_density_is_the_normalised_mixture(name):
    """log_density = log sum_k w_k N(x; m_k, C_k) exactly (normalised), incl. far out."""
    t = targets.get(name)
    mix = t.params["mixture"]
    rng = np.random.default_rng(33)
    X = np.concatenate([t.sample_exact(50, rng), rng.uniform(-30, 30, (50, 2))])
    ref = np.log(
        sum(w * stats.multivariate_normal(m, c).pdf(X) for w, m, c in zip(mix.weights, mix.means, mix.covs))
    )
    got = t.log_density_batch(X)
    ok = np.isfinite(ref)  # far points underflow in the reference, not in the kernel
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-10, atol=1e-10)
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, [t.log_density(np.ascontiguousarray(x)) for x in X])
