"""`diagnostics.ExactReference` (the live page's Q-Q, KS and sliced W1 against exact draws
sorted once) gives scipy's answers, ties and unequal sizes included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mdhmc.sampler import diagnostics as diag


@pytest.mark.parametrize("n", [1, 2, 7, 500, 1500])
def test_sliced_w1_equals_scipys(n):
    rng = np.random.default_rng(n)
    exact = rng.standard_normal((3000, 2)) @ np.array([[1.0, 0.4], [0.0, 0.7]])
    ref = diag.ExactReference(exact, n_directions=24, w1_points=2000)
    a = 1.2 * rng.standard_normal((n, 2)) + 0.3
    assert ref.sliced_w1(a) == pytest.approx(diag.sliced_w1(a, exact[:2000], n_directions=24), rel=1e-12)
    # negative control: against the whole reference (another sample) it is not the same number
    assert ref.sliced_w1(a) != pytest.approx(diag.sliced_w1(a, exact, n_directions=24), rel=1e-9)


def test_ks_and_quantiles_equal_scipy_and_numpy_with_ties():
    rng = np.random.default_rng(3)
    probs = np.linspace(0.005, 0.995, 100)
    for k in range(400):
        n, m = int(rng.integers(1, 80)), int(rng.integers(1, 300))
        if k % 2:  # ties within and across the samples
            a, b = rng.integers(0, 6, n).astype(float), rng.integers(0, 6, m).astype(float)
        else:
            a, b = rng.standard_normal(n), 1.3 * rng.standard_normal(m)
        assert diag.ks_sorted(np.sort(a), np.sort(b)) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
        assert np.allclose(diag.sorted_quantiles(np.sort(a), probs), np.quantile(a, probs), rtol=0, atol=1e-12)
    ref = diag.ExactReference(np.column_stack([b, -b]), n_directions=2)
    assert ref.ks(np.sort(a), 1) == pytest.approx(stats.ks_2samp(a, -b).statistic, abs=1e-12)
    assert np.allclose(ref.quantiles(1, probs), np.quantile(-b, probs), rtol=0, atol=1e-12)


def test_ks_against_the_reference_detects_a_shift():
    """Negative control: a sample shifted by 0.5 sd is far from the reference, an exact one is not."""
    rng = np.random.default_rng(0)
    ref = diag.ExactReference(rng.standard_normal((20_000, 1)), n_directions=4)
    good = np.sort(rng.standard_normal(2000))
    assert ref.ks(good, 0) < 0.04 and ref.ks(good + 0.5, 0) > 0.15
