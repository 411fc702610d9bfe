"""The report table and the progress line of ``mdhmc run`` (in-process)."""

from __future__ import annotations

import io
import time

import numpy as np


def test_table_summarises_many_dimensions():
    from mdhmc.sampler.cli import format_report

    rep = {"target": "stiff-wells", "dim": 100, "target_source": "built-in", "stage": "metropolis", "walkers": 10,
           "cold_walkers": 10, "draws": 5, "sweeps": 9, "lp_evals": 1234, "steps": 1234, "wall_s": 0.5, "threads": 2,
           "acceptance": 0.3, "swap_acceptance": float("nan"), "triggers": 0, "divergences": 0, "abandoned": 0,
           "mean": list(np.linspace(-1, 2, 100)), "sd": [1.0] * 100, "ks_p": [0.5] * 100, "sliced_w1": 0.1}
    text = format_report(rep)
    assert "min -1  max 2  (100 dims)" in text
    assert "swap acceptance  -" in text
    assert "temperatures     -" in text and "pair acceptance  -" in text  # no ladder in this report
    assert len(text.splitlines()) == 19


def test_progress_line_counts_sweeps_rate_and_eta():
    from mdhmc.sampler.cli.progress import Progress

    buf = io.StringIO()
    p = Progress(10, stream=buf, delay=0.0, log_every=0.0)
    assert "starting" in p.line()
    p.update(1, 100)
    p.t_first -= 1.0  # pretend the first sweep ended a second ago
    p.update(5, 500)
    line = p.line()
    assert line.startswith("sweep 5/10 [") and "50%" in line and "steps/s" in line and "ETA 0:01" in line
    p.start()
    time.sleep(0.7)
    p.stop()
    out = buf.getvalue().splitlines()
    assert out and out[-1].startswith("sweep 5/10")


def test_table_shows_a_ladder_given_as_an_array_and_the_2d_kernel():
    """The sampler's result holds the ladder as an ndarray: the text report printed a traceback on
    every multi-rung run (truth value of an array) before this test."""
    from mdhmc.sampler.cli import format_report

    rep = {"target": "scorpio", "dim": 2, "target_source": "built-in", "stage": "pipeline", "walkers": 10,
           "cold_walkers": 5, "draws": 5, "sweeps": 9, "lp_evals": 1234, "steps": 1234, "wall_s": 0.5, "threads": 2,
           "acceptance": 0.3, "swap_acceptance": 0.4, "triggers": 0, "divergences": 0, "abandoned": 0,
           "temperatures": np.array([1.0, 3.5]), "pair_acceptance": [0.4], "mean": [0.0, 1.0], "sd": [1.0, 2.0],
           "specialised_2d": {"state": "ready", "seconds": 9.5, "sweeps": 12}}
    text = format_report(rep)
    assert "temperatures     1  3.5" in text
    assert "2-D kernel       target inlined in 12 diffusion sweeps (compiled in 9.5 s)" in text
    rep["specialised_2d"] = {"state": "compiling", "seconds": None, "sweeps": 0}
    assert "not ready before the last diffusion sweep" in format_report(rep)
