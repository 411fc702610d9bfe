"""The 2-D diffusion path (`diffusion._trajectory_2d`, scalars in registers) gives exactly the
general trajectory's draws, for every setting it takes, not only the thread's (those are in
test_reference_draws.py).

The tracked walker always runs the general trajectory (it records its points), so a sweep with
walker j tracked and one with nothing tracked, from the same state, compare the two paths on
walker j bit for bit: position, log density, random stream, statistics and counters.
"""

import math

import numba
import numpy as np
import pytest

from mdhmc import targets
from mdhmc.sampler import diffusion, init
from mdhmc.targets import Target

WALKERS = 6


@numba.njit(cache=False)
def _disc_lp(x):
    """A Gaussian cut to a disc of radius 1.5: NaN outside, so trajectories are abandoned (at
    the drifted point or at an SPSA-perturbed one)."""
    r2 = x[0] * x[0] + x[1] * x[1]
    return -0.5 * r2 if r2 < 2.25 else math.nan


DISC = Target("nan-outside-disc", 2, _disc_lp, bounds=((-1.0, 1.0), (-1.0, 1.0)), source="test")

BASE = dict(step_size=0.05, steps=60, delta=0.5, viscosity_gain=1.0, noise=0.3, hot=1.0, trigger=2.0,
            gradient="spsa", spsa_c=0.01, spsa_k=1, spsa_two_sided=False, integrator="leapfrog", weighting="thread")

# name -> (target, mass, scale, changes to BASE)
CASES = {
    "thread-like": ("scorpio", None, None, {}),
    "mass-and-metric": ("banana", (1.0, 2.5), (0.7, 1.9), {}),
    "hot-trigger-no-noise": ("funnel", None, None, {"hot": 2.5, "trigger": 0.05, "noise": 0.0}),
    "two-sided-k3-euler": ("donut", None, (1.3, 0.4), {"spsa_two_sided": True, "spsa_k": 3, "integrator": "euler"}),
    "energy-weights": ("multimodal", None, None, {"weighting": "energy"}),
    "multinomial-weights": ("squiggle", (2.0, 0.5), None, {"weighting": "multinomial", "step_size": 0.2}),
    "abandoned-on-nan": (DISC, None, None, {"step_size": 0.3, "spsa_c": 0.2}),
}


def _sweep(target, mass, scale, params, tracked):
    state = init(target, WALKERS, 7)
    step = diffusion.build_kernel(target, mass, tracked=tracked)
    _, info = step(state, params, scale=None if scale is None else np.array(scale))
    return state, info, step.buffers["fstats"].copy(), step.buffers["icounts"].copy()


@pytest.mark.parametrize("case", CASES)
def test_2d_path_matches_the_general_trajectory_bit_for_bit(case):
    name, mass, scale, changes = CASES[case]
    target = targets.get(name, 2) if isinstance(name, str) else name
    params = diffusion.DiffusionParams(**{**BASE, **changes})
    fast, fast_info, fast_f, fast_i = _sweep(target, mass, scale, params, tracked=-1)
    for j in range(WALKERS):
        gen, _, gen_f, gen_i = _sweep(target, mass, scale, params, tracked=j)
        np.testing.assert_array_equal(gen.positions[j], fast.positions[j])
        np.testing.assert_array_equal(gen.log_density[j], fast.log_density[j])
        np.testing.assert_array_equal(gen.rng[j], fast.rng[j])
        np.testing.assert_array_equal(gen_f[j], fast_f[j])  # statistics (NaN where no step was done)
        np.testing.assert_array_equal(gen_i[j], fast_i[j])  # evaluations, steps, triggers, abandoned
    if case == "abandoned-on-nan":
        assert fast_info.abandoned > 0  # the negative path was exercised
    if changes.get("trigger", BASE["trigger"]) < 1.0:
        assert fast_info.triggers > 0
