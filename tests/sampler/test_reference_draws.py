"""Same seed, same draws as the saved ones, for every stage and for the variants that take
other code paths (integrators, gradients, SPSA forms, hot start, triggers, mass, fixed
Metropolis scale, 3 rungs, the naive swap rule, the n-D pipeline).

The arrays were saved by `reference_cases.py` (see there for when they were rewritten); a
change that alters any draw (a reordered random draw, a different floating-point
expression) fails here. Negative control: a different seed must not reproduce them.
"""

import numpy as np
import pytest

from reference_cases import CASES, DATA, _imports, run_case

targets, Sampler, Settings = _imports()
REFERENCE = np.load(DATA)


@pytest.mark.parametrize("case", sorted(CASES))
def test_draws_identical_to_the_saved_ones(case):
    got = run_case(case, targets, Sampler, Settings)
    for key, arr in got.items():
        ref = REFERENCE[f"{case}/{key}"]
        assert arr.shape == ref.shape, (case, key, arr.shape, ref.shape)
        assert np.array_equal(arr, ref), f"{case}: {key} differs from the saved draws"


def test_negative_control_another_seed_differs():
    target, dim, stage, changes = CASES["pipeline"]
    import reference_cases as rc

    s = Sampler(targets.get(target, dim), Settings(**{**rc._SMALL, **changes, "seed": 6}), stage=stage)
    res = s.run()
    assert not np.array_equal(res["final"], REFERENCE["pipeline/final"])
