"""Sweeps in blocks of walkers give the same draws; stop requests and raising densities."""

import numpy as np
import pytest

from reference_cases import CASES, DATA, _imports, run_case, same

targets, Sampler, Settings = _imports()
REFERENCE = np.load(DATA)


class TinyBlocks(Sampler):
    """Every block 3 walkers (2 blocks would hide an off-by-one at a block edge less well)."""

    def reset(self, positions=None):
        from mdhmc.sampler.chunks import Chunks

        self.chunks = Chunks(0.0, min_size=3)
        super().reset(positions)


@pytest.mark.parametrize("case", sorted(CASES))
def test_blocks_of_three_walkers_give_the_same_draws(case):
    """Bit for bit the draws of one block of all walkers, on this machine (the saved draws
    agree with both to the CPU's rounding: `test_reference_draws.py`)."""
    whole = run_case(case, targets, Sampler, Settings)
    got = run_case(case, targets, TinyBlocks, Settings)
    for key, arr in got.items():
        assert np.array_equal(arr, whole[key]), f"{case}: {key} differs with blocks of 3"
        assert same(arr, REFERENCE[f"{case}/{key}"]), f"{case}: {key} differs from the saved draws"


def test_should_stop_ends_the_sweep_between_blocks_and_the_sampler_goes_on():
    from mdhmc.sampler.chunks import Chunks
    from mdhmc.sampler.pipeline import SweepStopped

    s = Sampler(targets.get("scorpio"), Settings(walkers=40, sweeps=4, warmup=0), stage="metropolis")
    s.chunks = Chunks(0.0, min_size=4)
    asked = []
    with pytest.raises(SweepStopped):
        s.sweep(should_stop=lambda: asked.append(1) or True)
    assert len(asked) == 1 and s.sweep_count == 0 and len(s.draws) == 0
    s.sweep()
    assert s.sweep_count == 1 and len(s.draws) == 1


RAISING = '''
import numpy as np
dim = 2
bounds = [(-10.0, 10.0), (-10.0, 10.0)]
def log_density(x):
    if x[0] > {edge}:
        raise ValueError("bad region")
    return -0.5 * (x[0] ** 2 + x[1] ** 2)
'''


@pytest.mark.parametrize("stage", ["diffusion", "metropolis"])
def test_a_raising_density_names_function_exception_and_a_point_where_it_raises(tmp_path, stage):
    from mdhmc.sampler.pipeline import DensityError

    f = tmp_path / "halfplane.py"
    f.write_text(RAISING.format(edge=3.0))
    t = targets.load(str(f))
    s = Sampler(t, Settings(walkers=50, sweeps=50, warmup=0, diffusion_sweeps=50, step_size=0.5),
                stage=stage, positions=np.zeros((50, 2)))
    with pytest.raises(DensityError) as info:
        s.run()
    err = info.value
    assert isinstance(err.error, ValueError) and err.point is not None and err.point[0] > 3.0
    assert str(err).startswith("log_density in halfplane.py raised ValueError('bad region') at x = [")


def test_a_density_raising_at_the_starting_points_is_a_density_error(tmp_path):
    from mdhmc.sampler.pipeline import DensityError

    f = tmp_path / "everywhere.py"
    f.write_text(RAISING.format(edge=5.0))  # the validator probes the centre
    with pytest.raises(DensityError, match=r"raised ValueError\('bad region'\) at x = \["):
        Sampler(targets.load(str(f)), Settings(walkers=10))
