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
