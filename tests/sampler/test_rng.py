"""The per-walker streams' normal, exponential and Gumbel draws (`sampler.rng`: ziggurat) have
their distributions, and consecutive draws are independent.

Draws of one stream are i.i.d. under the null, so each check is exact: a chi-square test of
N draws on bins between the ziggurat's own layer edges (normal, exponential: a defect in a
layer's wedge test or in the tail moves mass across exactly these edges), on 1,000
equiprobable bins (Gumbel), and on a 32 x 32 grid for consecutive pairs. The four checks form
one family at `stat_helpers.FAMILY_ALPHA` (1%, Šidák). Measured over seeds 1..300
(`python tests/sampler/test_rng.py 300`, ~6 min): 4 false alarms (1.3%), and the family's
smallest p-value is uniform under the null (KS p 0.14); 2e8 normal draws on the layer bins
give chi-square p 0.31. Negative controls: a ziggurat that skips the wedge test (the classic
bug: a layer's whole rectangle accepted) and one that loses the tail beyond r fail the same
check on each of 20 seeds tried (largest p 2e-17 and 1e-97).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numba as nb
import numpy as np
import pytest
from scipy import stats

from mdhmc.sampler import rng as R

if __name__ == "__main__":  # run as a script: the tests' shared helpers sit one folder up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stat_helpers import FAMILY_ALPHA, sidak  # noqa: E402

N = 4_000_000
BINS = 1000
CHECKS = 4
ALPHA = sidak(FAMILY_ALPHA, CHECKS)


@nb.njit
def _draws(s, n, kind):
    out = np.empty(n)
    for t in range(n):
        if kind == 0:
            out[t] = R.normal(s, 0)
        elif kind == 1:
            out[t] = R.exponential(s, 0)
        else:
            out[t] = R.gumbel(s, 0)
    return out


@nb.njit
def _fill_pairs(s, n):
    out = np.empty((n, 2))
    one = np.ones(2)
    for t in range(n):
        R.fill_normal(s, 0, out[t], one)
    return out


@nb.njit
def _bad_normal(s, n, wedge, tail):
    """The ziggurat with its wedge test or its tail taken out (negative controls)."""
    out = np.empty(n)
    t = 0
    while t < n:
        bits = R.next_u64(s, 0)
        layer = np.intp(bits & np.uint64(0xFF))
        negative = (bits >> np.uint64(8)) & np.uint64(1)
        m = (bits >> np.uint64(9)) & np.uint64(0xFFFFFFFFFFFFF)
        z = m * R._ZN_W[layer]
        if m >= R._ZN_K[layer]:
            if layer == 0:
                if not tail:
                    continue
                while True:
                    tl = -math.log(R.uniform(s, 0)) / R._ZN_R
                    if -2.0 * math.log(R.uniform(s, 0)) > tl * tl:
                        z = R._ZN_R + tl
                        break
            elif wedge:
                f_lo, f_hi = R._ZN_F[layer], R._ZN_F[layer - 1]
                if f_lo + R.uniform(s, 0) * (f_hi - f_lo) >= math.exp(-0.5 * z * z):
                    continue
        out[t] = -z if negative else z
        t += 1
    return out


def _layer_edges(w, bits, symmetric):
    """The ziggurat's own layer edges x_1 < ... < x_255 = r (mirrored for the normal): a defect in
    a layer's test or in the tail moves mass across exactly these edges."""
    x = np.sort(w[1:] * 2.0**bits)
    return np.concatenate([-x[::-1], [0.0], x]) if symmetric else x


def _chi2_p(x, dist, edges=None) -> float:
    """Chi-square p-value of ``x`` against ``dist`` on bins between ``edges`` (default: 1,000
    equiprobable bins)."""
    if edges is None:
        edges = dist.ppf(np.linspace(0.0, 1.0, BINS + 1)[1:-1])
    counts = np.bincount(np.searchsorted(edges, x), minlength=len(edges) + 1)
    expected = np.diff(np.concatenate([[0.0], dist.cdf(edges), [1.0]])) * len(x)
    return float(stats.chisquare(counts, expected * counts.sum() / expected.sum()).pvalue)


NORMAL_EDGES = _layer_edges(R._ZN_W, 52, True)
EXPONENTIAL_EDGES = _layer_edges(R._ZE_W, 53, False)


def _pairs_p(z) -> float:
    """Consecutive normals (a fill_normal pair) independent: chi-square on a 32 x 32 grid of
    equiprobable cells."""
    edges = stats.norm.ppf(np.linspace(0.0, 1.0, 33)[1:-1])
    cells = np.searchsorted(edges, z[:, 0]) * 32 + np.searchsorted(edges, z[:, 1])
    return float(stats.chisquare(np.bincount(cells, minlength=32 * 32)).pvalue)


def family_p(seed: int, n: int = N) -> dict:
    s = R.seed_streams(seed, 1)
    return {"normal": _chi2_p(_draws(s, n, 0), stats.norm, NORMAL_EDGES),
            "exponential": _chi2_p(_draws(s, n, 1), stats.expon, EXPONENTIAL_EDGES),
            "gumbel": _chi2_p(_draws(s, n, 2), stats.gumbel_r), "pairs": _pairs_p(_fill_pairs(s, n // 2))}


def test_draws_have_their_distributions():
    p = family_p(11)
    assert min(p.values()) > ALPHA, p


@pytest.mark.parametrize("wedge, tail", [(False, True), (True, False)], ids=["no wedge test", "no tail"])
def test_negative_control_a_broken_ziggurat_fails(wedge, tail):
    assert _chi2_p(_bad_normal(R.seed_streams(11, 1), N, wedge, tail), stats.norm, NORMAL_EDGES) < ALPHA
    # and the same stream through the complete ziggurat passes
    assert _chi2_p(_bad_normal(R.seed_streams(11, 1), N, True, True), stats.norm, NORMAL_EDGES) > ALPHA


def test_the_tables_close():
    """Each of the 255 layers above the base strip has the area of the base strip (rectangle
    under f(r) plus the tail), and the top layer ends at f = 1."""
    for w, f, v in ((R._ZN_W, R._ZN_F, R._ZN_V), (R._ZE_W, R._ZE_F, R._ZE_V)):
        x = w * (2.0**52 if w is R._ZN_W else 2.0**53)
        areas = x[1:] * (f[:-1] - f[1:])
        assert np.allclose(areas, v, rtol=1e-9, atol=0.0)


if __name__ == "__main__":  # the family's false-alarm rate over seeds 1..K, and the controls' p-values
    K = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for wedge, tail in ((False, True), (True, False)):
        ps = [_chi2_p(_bad_normal(R.seed_streams(s, 1), N, wedge, tail), stats.norm, NORMAL_EDGES) for s in range(1, 21)]
        print(f"control (wedge test {wedge}, tail {tail}): largest p over seeds 1..20: {max(ps):.3g}", flush=True)
    worst = [min(family_p(seed).values()) for seed in range(1, K + 1)]
    alarms = sum(m <= ALPHA for m in worst)
    print(f"family false alarms: {alarms}/{K} = {alarms / K:.2%} (designed {FAMILY_ALPHA:.0%})")
    print("KS of the family's smallest p against its null:",
          stats.kstest(1 - (1 - np.array(worst)) ** CHECKS, "uniform").pvalue)
