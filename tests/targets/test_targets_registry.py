"""targets.names / targets.get / targets.resolve and the Target contract of the built-ins."""

from __future__ import annotations

import numpy as np
import pytest

from mdhmc import targets
from mdhmc.targets import TargetError

ALL = ["banana", "donut", "funnel", "multimodal", "scorpio", "squiggle", "stiff-wells"]
TWO_D_ONLY = ["banana", "donut", "multimodal", "scorpio", "squiggle"]


def test_names_lists_all_seven_sorted():
    assert targets.names() == ALL


def test_target_error_is_a_value_error():
    assert issubclass(TargetError, ValueError)


def test_target_error_message_is_always_one_line():
    assert str(TargetError("a\nb\r\n  c")) == "a b c"


@pytest.mark.parametrize("name", ALL)
def test_builtins_satisfy_the_contract(name):
    t = targets.get(name)
    assert t.name == name and t.source == "built-in"
    assert t.has_exact and t.has_gradient and t.bounds is not None
    assert t.description
    assert targets.validate(t) is t
    box = t.box()
    assert box.shape == (t.dim, 2) and np.all(box[:, 0] < box[:, 1])
    X = np.asarray(t.sample_exact(7, np.random.default_rng(0)))
    assert X.shape == (7, t.dim) and np.all(np.isfinite(X))
    lp = t.log_density_batch(X)
    assert lp.shape == (7,) and np.all(np.isfinite(lp))
    np.testing.assert_array_equal(lp, [t.log_density(np.ascontiguousarray(x)) for x in X])
    assert t.summary()["name"] == name


@pytest.mark.parametrize("name", ALL)
def test_exact_draws_are_reproducible_from_the_seed(name):
    t = targets.get(name)
    a = t.sample_exact(50, np.random.default_rng(5))
    b = t.sample_exact(50, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_get_is_cached():
    assert targets.get("scorpio") is targets.get("scorpio")
    assert targets.get("funnel", 10) is targets.get("funnel", dim=10)


@pytest.mark.parametrize("typo, suggestion", [("scorpo", "scorpio"), ("bananna", "banana"), ("stiff_wells", "stiff-wells"), ("funel", "funnel")])
def test_unknown_name_suggests_close_names(typo, suggestion):
    with pytest.raises(TargetError) as exc:
        targets.get(typo)
    msg = str(exc.value)
    assert repr(typo) in msg and repr(suggestion) in msg and "\n" not in msg


def test_unknown_name_without_close_match_lists_builtins():
    with pytest.raises(TargetError) as exc:
        targets.get("zzzzzz")
    msg = str(exc.value)
    assert all(n in msg for n in ALL)


@pytest.mark.parametrize("name, dim", [("funnel", 2), ("funnel", 3), ("funnel", 10), ("stiff-wells", 1), ("stiff-wells", 5), ("stiff-wells", 1000)])
def test_dim_param_for_nd_targets(name, dim):
    t = targets.get(name, dim=dim)
    assert t.dim == dim and t.params["dim"] == dim
    assert t.box().shape == (dim, 2)
    assert t.sample_exact(3, np.random.default_rng(0)).shape == (3, dim)
    assert np.isfinite(t.log_density(np.ascontiguousarray(t.box().mean(axis=1))))


def test_default_dims():
    assert targets.get("funnel").dim == 2
    assert targets.get("stiff-wells").dim == 100


@pytest.mark.parametrize("name, dim", [("funnel", 1), ("funnel", 0), ("stiff-wells", 0), ("stiff-wells", -3)])
def test_nd_targets_reject_too_small_dim(name, dim):
    with pytest.raises(TargetError, match=name):
        targets.get(name, dim=dim)


@pytest.mark.parametrize("name", TWO_D_ONLY)
def test_2d_only_targets_reject_other_dims(name):
    with pytest.raises(TargetError, match="2D only"):
        targets.get(name, dim=3)
    assert targets.get(name, dim=2).dim == 2  # dim=2 is harmless


def test_resolve_builtin_name_and_path(tmp_path):
    assert targets.resolve("banana") is targets.get("banana")
    assert targets.resolve("funnel", dim=10).dim == 10
    p = tmp_path / "g.py"
    p.write_text("dim = 1\ndef log_density(x):\n    return -0.5 * x[0] * x[0]\n")
    assert targets.resolve(str(p)).name == "g"
    with pytest.raises(TargetError, match="scorpio"):
        targets.resolve("scorpo")


@pytest.mark.parametrize("name", ["funnel", "stiff-wells"])
def test_dim_above_the_maximum_is_refused_in_one_line(name):
    with pytest.raises(targets.TargetError, match="above the largest supported") as ei:
        targets.get(name, dim=targets.MAX_DIM + 1)
    assert "\n" not in str(ei.value)
    assert targets.get(name, dim=3).dim == 3  # the bound does not touch ordinary sizes
