"""Measure the family-wise false-alarm rate of the exactness checks over many seeds.

    python tests/sampler/measure_false_alarms.py scorpio-metropolis --seeds 24
    python tests/sampler/measure_false_alarms.py ladder --seeds 24
    python tests/sampler/measure_false_alarms.py moves --seeds 24 [--case corr-gauss:de]

Each seed runs the test's case from fresh exact starts; a "false alarm" is a failed check
of a correct sampler. The rates go into the tests' docstrings. Not a test (slow).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def scorpio_metropolis(seed):
    import test_exact_stages as t

    return t.check_scorpio_metropolis(seed)[0]


def ladder(seed):
    from exactness_cases import check_ladder

    return check_ladder(seed)[0]


def moves(seed, case):
    from exactness_cases import check_move

    target, mix = case.split(":")
    return check_move(target, mix, seed)[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("family", choices=["scorpio-metropolis", "ladder", "moves"])
    p.add_argument("--seeds", type=int, default=24)
    p.add_argument("--first", type=int, default=100, help="first seed (the tests use small seeds)")
    p.add_argument("--case", default="corr-gauss:de", help="moves: target:mix")
    a = p.parse_args(argv)
    fails = 0
    for k in range(a.seeds):
        seed = a.first + k
        t0 = time.perf_counter()
        if a.family == "moves":
            ok = moves(seed, a.case)
        else:
            ok = {"scorpio-metropolis": scorpio_metropolis, "ladder": ladder}[a.family](seed)
        fails += not ok
        print(f"seed {seed}: {'ok' if ok else 'FALSE ALARM'} ({time.perf_counter() - t0:.0f} s)", flush=True)
    label = a.family + (f" {a.case}" if a.family == "moves" else "")
    print(f"{label}: {fails} false alarms in {a.seeds} seeds = {fails / a.seeds:.1%}", flush=True)


if __name__ == "__main__":
    main()
