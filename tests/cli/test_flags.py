"""The flags of ``mdhmc run`` are generated from SPEC: one per setting, every spelling (preset key,
dashed form, older names) reaching the same setting, values typed by the setting's kind, and
errors naming the flag as the user typed it. In-process: `main` and the parser, no subprocess."""

from __future__ import annotations

import json

import pytest

from mdhmc.sampler.cli import main
from mdhmc.sampler.cli.parser import build_parser, setting_changes, setting_flags
from mdhmc.sampler.settings import SPEC, Settings


def non_default(s):
    """(text typed on the command line, value expected in Settings) for a valid non-default value."""
    if s.kind == "bool":
        return None, not s.default
    if s.kind == "choice":
        other = next(c for c in s.choices if c != s.default)
        return other, other
    if s.kind == "floats":
        return "1,2.5", (1.0, 2.5)
    if s.kind == "int":
        base = s.bounds[0] if s.default is None else s.default  # nullable ints (rungs) default to auto
        return str(base + 1), base + 1
    value = s.soft[0] if s.soft[0] != s.default else s.soft[1]
    return repr(float(value)), float(value)


def args_for(flag, text):
    return [flag] if text is None else [flag, text]


def run_main(capsys, *argv):
    rc = main(["run", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_setting_has_one_flag_named_like_its_preset_key():
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    by_dest = {a.dest: a for a in run._actions}
    for s in SPEC:
        assert by_dest[s.name].option_strings[0] == "--" + s.name
    assert by_dest["target_dim"].option_strings[:2] == ["--target_dim", "--target-dim"]


@pytest.mark.parametrize("s", SPEC, ids=lambda s: s.name)
def test_every_spelling_reaches_the_setting(s):
    text, expected = non_default(s)
    flags = [f for f in setting_flags(s) if not f.startswith("--no-")]
    assert "--" + s.name.replace("_", "-") in flags and all("--" + a in flags for a in s.aliases)
    if s.kind == "bool" and s.default:  # on by default (adapt_step_size): the --no- forms change it
        flags = [f for f in setting_flags(s) if f.startswith("--no-")]
    for flag in flags:
        args = build_parser().parse_args(["run", *args_for(flag, text)])
        assert setting_changes(args) == {s.name: expected}, flag
        assert args.typed_flags == {s.name: flag}
    if s.kind == "bool":
        for flag in setting_flags(s):
            args = build_parser().parse_args(["run", flag])
            assert setting_changes(args) == {s.name: not flag.startswith("--no-")}, flag


def test_all_primary_flags_at_once_give_those_settings(capsys):
    argv, expected = ["--target", "scorpio", "--dry-run", "--json"], {}
    for s in SPEC:
        text, value = non_default(s)
        argv += args_for("--" + s.name if text is not None or not s.default else "--no-" + s.name, text)
        expected[s.name] = list(value) if isinstance(value, tuple) else value
    rc, out, err = run_main(capsys, *argv)
    assert rc == 0, err
    settings = json.loads(out)["settings"]
    assert settings == expected
    Settings.from_dict(settings)  # and it is a valid preset


def test_flags_not_given_keep_the_presets_values(tmp_path, capsys):
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"target": "scorpio", "settings": {
        "naive_swap": True, "metropolis_scale": 0.5, "mass": [1, 2], "integrator": "euler", "thermostat_gain": 4}}))
    rc, out, err = run_main(capsys, "--preset", str(preset), "--dry-run", "--json")
    assert rc == 0, err
    s = json.loads(out)["settings"]
    assert (s["naive_swap"], s["metropolis_scale"], s["mass"], s["integrator"], s["viscosity_gain"]) == \
        (True, 0.5, [1.0, 2.0], "euler", 4.0)
    rc, out, err = run_main(capsys, "--preset", str(preset), "--no-naive-swap", "--metropolis_scale", "auto",
                            "--mass", "none", "--integrator", "leapfrog", "--gain", "0.5", "--dry-run", "--json")
    assert rc == 0, err
    s = json.loads(out)["settings"]
    assert (s["naive_swap"], s["metropolis_scale"], s["mass"], s["integrator"], s["viscosity_gain"]) == \
        (False, None, None, "leapfrog", 0.5)


def test_infinity_is_accepted_only_where_the_setting_allows_it(capsys):
    rc, out, err = run_main(capsys, "--target", "scorpio", "--trigger", "inf", "--trim-sds", "inf", "--dry-run", "--json")
    assert rc == 0, err
    s = json.loads(out)["settings"]
    assert s["trigger"] >= 1e308 and s["trim_sds"] >= 1e308
    rc, out, err = run_main(capsys, "--target", "scorpio", "--step_size", "inf", "--dry-run")
    assert rc == 2 and err.strip() == "mdhmc: error: argument --step_size: step_size must be finite, got inf"


@pytest.mark.parametrize("argv, expected", [
    (["--gain", "-1"], "argument --gain: viscosity_gain must be >= 0, got -1.0"),
    (["--thermostat-gain", "-1"], "argument --thermostat-gain: viscosity_gain must be >= 0, got -1.0"),
    (["--viscosity_gain", "-1"], "argument --viscosity_gain: viscosity_gain must be >= 0, got -1.0"),
    (["--step_size", "0"], "argument --step_size: step_size must be > 0, got 0.0"),
    (["--trajectories", "many"], "argument --trajectories: expected a whole number, got 'many'"),
    (["--walkers", "1e3.5"], "argument --walkers: expected a whole number, got '1e3.5'"),
    (["--noise", "nan"], "argument --noise: expected a number, got 'nan'"),
    (["--gradient", "exakt"], "argument --gradient: invalid choice 'exakt' (choose from spsa, exact, central); "
                              "did you mean 'exact'?"),
    (["--mass", "1,-2"], "mass must be a list of positive finite numbers"),
    (["--mass", "1,x"], "argument --mass: expected comma-separated numbers"),
    (["--target_accept", "1.5"], "argument --target_accept: target_accept must be <= 1, got 1.5"),
    (["--target-dim", "0"], "argument --target-dim: must be >= 1, got 0"),
    (["--gain", "1", "--thermostat-gain", "2"], "argument --thermostat-gain: viscosity_gain is already given as --gain"),
    (["--walkres", "3"], "unrecognized arguments: --walkres 3; did you mean --walkers?"),
    (["--step-sise", "0.1"], "did you mean --step-size?"),
])
def test_errors_name_the_flag_as_typed(capsys, argv, expected):
    rc, out, err = run_main(capsys, "--target", "scorpio", *argv, "--dry-run")
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdhmc: error: ") and expected in lines[0], err


def test_whole_numbers_in_float_notation_are_accepted_for_ints(capsys):
    rc, out, err = run_main(capsys, "--target", "scorpio", "--walkers", "1e3", "--steps", "50.0", "--dry-run", "--json")
    assert rc == 0, err
    s = json.loads(out)["settings"]
    assert s["walkers"] == 1000 and s["steps"] == 50 and isinstance(s["walkers"], int)


def test_repeating_one_setting_in_its_own_spellings_keeps_the_last(capsys):
    rc, out, err = run_main(capsys, "--target", "scorpio", "--step-size", "0.2", "--step_size", "0.1", "--naive_swap",
                            "--no-naive-swap", "--dry-run", "--json")
    assert rc == 0, err
    s = json.loads(out)["settings"]
    assert s["step_size"] == 0.1 and s["naive_swap"] is False
