"""Saving a run from Python (`mdhmc.sampler.io`) and the preset format (`mdhmc.sampler.presets`):
what a researcher gets after ``Sampler.run()``, atomic writes, and preset keys = setting names."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from mdhmc.sampler import io, presets
from mdhmc.sampler.settings import SPEC, Settings


def fake_result(n_draws=3, walkers=4, dim=2):
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(n_draws, walkers, dim))
    return {"final": draws[-1].copy() if n_draws else rng.normal(size=(walkers, dim)), "draws": draws,
            "lp": rng.normal(size=walkers), "temperatures": np.array([1.0, 3.5])}


class Unwritable:
    """An array-like that fails while the file is being written."""

    def __array__(self, dtype=None, copy=None):
        raise OSError(28, "No space left on device")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------ writers
def test_save_after_a_real_run_round_trips(tmp_path):
    from mdhmc import targets
    from mdhmc.sampler import Sampler

    settings = Settings(walkers=40, sweeps=12, warmup=4, seed=2)
    target = targets.get("banana")
    result = Sampler(target, settings, "metropolis").run()
    path = io.save(tmp_path / "run.npz", result, settings=settings, target=target, stage="metropolis")
    assert path == str(tmp_path / "run.npz")
    with np.load(path) as z:
        np.testing.assert_array_equal(z["draws"], result["draws"])
        np.testing.assert_array_equal(z["final"], result["final"])
        np.testing.assert_array_equal(z["lp"], result["lp"])
        assert str(z["target"]) == "banana" and str(z["target_source"]) == "built-in"
        assert str(z["stage"]) == "metropolis"
        assert Settings.from_dict(json.loads(str(z["settings_json"]))) == settings
        preset = presets.loads(str(z["preset_json"]))
    assert preset["target"] == "banana" and preset["stage"] == "metropolis" and preset.apply() == settings

    import arviz as az

    io.save(tmp_path / "run.nc", result, settings=settings, target=target, stage="metropolis")
    idata = az.from_netcdf(tmp_path / "run.nc")
    x = idata.posterior["x"]
    assert x.dims == ("chain", "draw", "dim") and x.shape == (40, 8, 2)
    np.testing.assert_array_equal(x.to_numpy(), np.transpose(result["draws"], (1, 0, 2)))
    assert Settings.from_dict(json.loads(idata.posterior.attrs["settings_json"])) == settings
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_replaced_on_success_and_kept_on_failure(tmp_path):
    path = tmp_path / "run.npz"
    path.write_bytes(b"old contents")
    io.write_npz(path, fake_result(), settings=Settings(), target="t", stage="pipeline")
    with np.load(path) as z:
        assert z["draws"].shape == (3, 4, 2)
    before = path.read_bytes()
    broken = {**fake_result(), "lp": Unwritable()}
    with pytest.raises(OSError, match="No space left"):
        io.write_npz(path, broken, settings=Settings(), target="t", stage="pipeline")
    assert path.read_bytes() == before  # the old run is intact
    assert leftovers(tmp_path) == []  # and no temporary file is left behind


def test_a_failed_first_write_leaves_no_file(tmp_path):
    with pytest.raises(OSError):
        io.save(tmp_path / "run.npz", {**fake_result(), "final": Unwritable()}, settings=Settings())
    assert list(tmp_path.iterdir()) == []


def test_netcdf_refuses_a_run_without_draws(tmp_path):
    with pytest.raises(io.OutputError, match="needs recorded draws"):
        io.save(tmp_path / "run.nc", fake_result(n_draws=0), settings=Settings())
    assert list(tmp_path.iterdir()) == []


def test_check_path_refuses_what_save_could_not_write(tmp_path):
    (tmp_path / "d.npz").mkdir()
    cases = {"run.csv": "must end in .npz or .nc", "no/such/run.npz": "does not exist", "d.npz": "is a directory"}
    for name, text in cases.items():
        with pytest.raises(io.OutputError, match=text):
            io.check_path(tmp_path / name)
    with pytest.raises(io.OutputError, match="needs recorded draws"):
        io.check_path(tmp_path / "run.nc", records_draws=False)
    assert io.check_path(tmp_path / "run.nc") == "netcdf" and io.check_path(tmp_path / "run.npz") == "npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]  # checking creates nothing


def test_json_dumps_is_strict_json():
    text = io.json_dumps({"a": float("nan"), "b": [1.0, float("-inf")], "c": np.float32(0.5), "d": np.arange(2)})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 0.5, "d": [0, 1]}


# ------------------------------------------------------------------------------ presets
def _strict(text):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON token {c}"))


def test_preset_keys_are_the_setting_names():
    d = _strict(presets.dumps(Settings()))
    assert list(d["settings"]) == [s.name for s in SPEC]
    changed = _strict(presets.dumps(Settings(walkers=7, viscosity_gain=2.0), only_changed=True))
    assert changed["settings"] == {"walkers": 7, "viscosity_gain": 2.0}


@pytest.mark.parametrize("s", [s for s in SPEC if s.allow_inf], ids=lambda s: s.name)
def test_every_infinite_setting_is_written_as_valid_json_and_reads_back_as_never(s):
    text = presets.dumps(Settings().replace(**{s.name: math.inf}))
    value = _strict(text)["settings"][s.name]
    assert value == presets.JSON_INF
    assert getattr(presets.loads(text).apply(), s.name) >= 1e308


@pytest.mark.parametrize("s", [s for s in SPEC if s.aliases], ids=lambda s: s.name)
def test_older_preset_keys_still_load(s):
    value = s.default + 1 if s.kind in ("int", "float") else s.default
    for alias in s.aliases:
        p = presets.loads(json.dumps({"settings": {alias: value}}))
        assert getattr(p.apply(), s.name) == value, alias


def test_builtin_presets_by_name_and_by_path():
    p, path = presets.builtin("seed-scorpio")
    assert p["target"] == "scorpio" and os.path.isfile(path)
    assert presets.builtin(path)[0] == p
    with pytest.raises(presets.PresetError, match="built-in presets are .*seed-scorpio"):
        presets.builtin("no-such-preset")


def test_dump_writes_a_loadable_file(tmp_path):
    presets.dump(tmp_path / "p.json", Settings(trigger=math.inf, seed=4), target="funnel", target_dim=3, stage="hmc")
    p = presets.load(tmp_path / "p.json")
    assert (p["target"], p["target_dim"], p["stage"]) == ("funnel", 3, "hmc")
    assert p.apply().seed == 4 and p.apply().trigger >= 1e308
