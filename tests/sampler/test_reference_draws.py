"""Same seed, same draws as the saved ones, for every stage and for the variants that take
other code paths (integrators, gradients, SPSA forms, hot start, triggers, mass, fixed
Metropolis scale, 3 rungs, the naive swap rule, the n-D pipeline).

The arrays were saved by `reference_cases.py` (see there for when they were rewritten); a
change that alters any draw (a reordered random draw, a changed formula) fails here. The random
streams' states must be bit-identical (every stream drew exactly as often); positions, log
densities and draws must agree to ``reference_cases.RTOL`` of the array's scale. Not bitwise: numba compiles for
the CPU it runs on, and a machine with AVX-512 reproduced four scorpio cases to 1e-14, not to
the bit (measured 2026-11-29; the others bit for bit). Bit-identity where it is a promise --
the same machine, any block size, threads or Dask workers -- is tested in
`test_chunks_faults.py`, `test_pipeline_repro.py` (1 and 2 threads) and `test_dask.py`.
Negative control: a different seed must not reproduce them.
"""

import numpy as np
import pytest

from reference_cases import CASES, DATA, _imports, run_case, same

targets, Sampler, Settings = _imports()
REFERENCE = np.load(DATA)


@pytest.mark.parametrize("case", sorted(CASES))
def test_draws_identical_to_the_saved_ones(case):
    got = run_case(case, targets, Sampler, Settings)
    for key, arr in got.items():
        ref = REFERENCE[f"{case}/{key}"]
        assert arr.shape == ref.shape, (case, key, arr.shape, ref.shape)
        assert same(arr, ref), f"{case}: {key} differs from the saved draws"


def test_negative_control_another_seed_differs():
    target, dim, stage, changes = CASES["pipeline"]
    import reference_cases as rc

    s = Sampler(targets.get(target, dim), Settings(**{**rc._SMALL, **changes, "seed": 6}), stage=stage)
    res = s.run()
    assert not same(res["final"], REFERENCE["pipeline/final"])
