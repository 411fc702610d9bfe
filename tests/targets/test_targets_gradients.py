"""Analytic gradients of every built-in match central finite differences of log_density."""

from __future__ import annotations

import numpy as np
import pytest

from mdhmc import targets

CASES = [
    ("scorpio", None),
    ("funnel", 2),
    ("funnel", 10),
    ("banana", None),
    ("donut", None),
    ("multimodal", None),
    ("squiggle", None),
    ("stiff-wells", 5),
    ("stiff-wells", 100),
]


def central_fd(f, x, rel_step=1e-6):
    """Central differences; the step is relative to |x_i| (>= rel_step absolute) and
    the actually representable step is used in the quotient."""
    g = np.empty(x.size)
    for i in range(x.size):
        h = rel_step * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (xp[i] - xm[i])
    return g


def _points(t, rng):
    """Exact draws (typical set) plus uniform points in the bounds (tails, off-ridge)."""
    pts = list(np.asarray(t.sample_exact(12, rng)))
    box = t.box()
    pts += list(rng.uniform(box[:, 0], box[:, 1], size=(6, t.dim)))
    return [np.ascontiguousarray(p, dtype=np.float64) for p in pts]


@pytest.mark.parametrize("name, dim", CASES, ids=[f"{n}-{d or 2}" for n, d in CASES])
def test_gradient_matches_finite_differences(name, dim):
    t = targets.get(name, dim)
    assert t.has_gradient
    rng = np.random.default_rng(41)
    for x in _points(t, rng):
        g = np.asarray(t.grad_log_density(x))
        assert g.shape == (t.dim,) and np.all(np.isfinite(g))
        fd = central_fd(t.log_density, x)
        scale = max(1.0, float(np.max(np.abs(g))))
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * scale, err_msg=f"{name} dim={t.dim} at {x}")


def test_gradient_does_not_modify_its_input():
    for name in targets.names():
        t = targets.get(name)
        x = np.ascontiguousarray(t.sample_exact(1, np.random.default_rng(42))[0])
        before = x.copy()
        t.grad_log_density(x)
        t.log_density(x)
        np.testing.assert_array_equal(x, before)


def test_donut_gradient_at_the_centre_is_finite():
    """|x| has a cusp at 0; the kernel returns 0 there instead of nan."""
    g = targets.get("donut").grad_log_density(np.zeros(2))
    np.testing.assert_array_equal(g, [0.0, 0.0])
