"""Measure the family-wise false-alarm rate of the exactness checks over many seeds, and the
detection rate (power) of their negative controls.

    python tests/sampler/measure_false_alarms.py moves --seeds 100            # every case of test_ensemble_moves
    python tests/sampler/measure_false_alarms.py moves --case scorpio:de --seeds 100
    python tests/sampler/measure_false_alarms.py moves --control --seeds 40   # the moves at beta = 0.9
    python tests/sampler/measure_false_alarms.py metropolis --seeds 20 [--case scorpio] [--control]
    python tests/sampler/measure_false_alarms.py ladder --seeds 40 [--control]   # control: naive swaps
    python tests/sampler/measure_false_alarms.py live-ladder --seeds 40          # control: rung 1 as cold
    python tests/sampler/measure_false_alarms.py stages --seeds 20 [--case hmc:donut]  # test_exact_stages
    python tests/sampler/measure_false_alarms.py diagnostics --seeds 200            # test_trim_diagnostics
    python tests/sampler/measure_false_alarms.py summary --files a.jsonl b.jsonl   # tables from --out files

Each seed runs the test's check from fresh exact starts (seeds from ``--first`` on; the tests
use small seeds). A "false alarm" is a failed check of a correct sampler; a "detection" is a
failed check of the negative control. Besides the family-wise count, the script pools every
statistic's t-score and prints how often |t| exceeds Student's 95% and 99% points: with an
honest MCSE those are near 5% and 1% (a much higher share means the MCSE is too small, even
when the family-wise count is too small to show it). ``--out FILE`` appends one JSON line per
seed (the t-scores). Runs on one numba thread unless NUMBA_NUM_THREADS is set: the draws do
not depend on it, and the machine is shared. Not a test (minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def _checks(family: str, case: str | None, control: bool):
    """[(label, seed -> Check)] for the family (every case of the moves test unless ``case``)."""
    import exactness_cases as ec
    from stat_helpers import Check

    if family == "moves":
        from test_ensemble_moves import CASES, WRONG_BETA

        if case:
            cases = [tuple(case.split(":"))]
        elif control:  # the test's controls: each move (and the default mix) on corr-gauss
            cases = [c for c in CASES if c[0] == "corr-gauss"]
        else:
            cases = CASES
        beta = WRONG_BETA if control else 1.0
        return [(f"moves {t}:{m}" + (f" beta={beta}" if control else ""),
                 lambda seed, t=t, m=m: ec.check_move(t, m, seed, beta=beta)) for t, m in cases]
    if family == "metropolis":  # test_exact_stages' Metropolis cases (scorpio was family scorpio-metropolis)
        import test_exact_stages

        beta = 0.9 if control else 1.0
        cases = [case] if case else (["scorpio"] if control else test_exact_stages.METROPOLIS_CASES)
        return [(f"metropolis {c} beta={beta}", lambda seed, c=c: test_exact_stages.check_metropolis(c, seed, beta=beta))
                for c in cases]
    if family == "stages":  # test_exact_stages' thread cases: moments (z, 2% each) + KS (0.1% each)
        import numpy as np
        from scipy import stats

        import test_exact_stages as t
        from stat_helpers import compare_to_exact, ks_thinned

        def stage(seed, st, c):
            if st == "hmc":  # the replicate check (test_exact_stages.check_stage)
                settings = t.Settings.thread(walkers=1000, sweeps=10_000, warmup=100, hmc_steps=10)
                return t.hmc_replicate_check(t.run_from_exact(t.make(c), st, settings, equilibrate=100, seed=seed)[1], c)
            target = t.make(c)
            settings = t.Settings.thread(walkers=1000, sweeps=10_000, warmup=100, hmc_steps=10)
            _, draws = t.run_from_exact(target, st, settings, equilibrate=1000 if st == "tempering" else 100,
                                        seed=seed)
            exact = t.exact_draws(target)
            rows, ok = compare_to_exact(draws, exact, t.KIND[c])
            p = ks_thinned(draws, exact, sweeps_apart=60)
            rows += [(f"KS {j} (as z)", np.nan, np.nan, np.nan, float(stats.norm.isf(pj / 2))) for j, pj in enumerate(p)]
            return Check(ok and bool(np.all(p > 1e-3)), rows, 10**9, 0.02)

        cases = [tuple(case.split(":"))] if case else t.CASES
        return [(f"stages {st}:{c}", lambda seed, st=st, c=c: stage(seed, st, c)) for st, c in cases]
    if family == "diagnostics":  # test_trim_diagnostics: one pass/fail each, no t-scores
        import test_trim_diagnostics as t

        return [("diagnostics iid ESS/R-hat", lambda seed: Check(t.ess_rhat_of_independent_draws(seed)[0], [], 1, 0.0)),
                ("diagnostics shared-state ESS < 10x truth",
                 lambda seed: Check(bool(t.ess_of_shared_states(seed) < 10 * t.SHARED_TRUE_ESS), [], 1, 0.0)),
                ("diagnostics control: per-walker ESS < 10x truth (must fail)",
                 lambda seed: Check(bool(t.per_walker_ess_of_shared_states(seed) < 10 * t.SHARED_TRUE_ESS), [], 1,
                                    0.0))]
    if family == "ladder":
        return [(f"ladder naive_swap={control}", lambda seed: ec.check_ladder(seed, naive_swap=control))]
    if family == "live-ladder":  # one run gives the check and its control (rung 1's draws as if cold)
        def both(seed):
            runs = ec.live_ladder_runs(seed)
            return [ec.check_live_ladder_change(runs), ec.check_live_ladder_change(runs, control=True)]

        return [("live-ladder", both)]
    raise ValueError(family)


def summarise(label, outcomes, seeds, control):
    """One line: failures / seeds, and the pooled per-statistic exceedances (see module docstring)."""
    from scipy import stats

    fails = sum(not c.ok for c in outcomes)
    t = [(abs(row[4]), c.df) for c in outcomes for row in c.rows]
    over95 = sum(a > stats.t.ppf(0.975, df) for a, df in t) / max(1, len(t))
    over99 = sum(a > stats.t.ppf(0.995, df) for a, df in t) / max(1, len(t))
    what = "detections" if control else "false alarms"
    ref = next((c for c in outcomes if c.rows), outcomes[0])
    return (f"{label}: {fails} {what} in {seeds} seeds = {fails / seeds:.1%} (design alpha per statistic "
            f"{ref.alpha:.1e}, {ref.df} df); per statistic |t| > t95: {over95:.1%}, "
            f"> t99: {over99:.1%} of {len(t)}")


def summary_of_files(files):
    """Per label: seeds, failures of the check, failures of the control (live-ladder), and the
    pooled per-statistic exceedances, from the JSON lines that ``--out`` wrote."""
    from scipy import stats

    by = {}
    for path in files:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                by.setdefault(rec["label"], {})[rec["seed"]] = rec  # a rerun seed counts once
    for label, recs in by.items():
        recs = list(recs.values())
        fails = sum(not r["ok"] for r in recs)
        t = [(abs(v), r["df"]) for r in recs for v in r["t"].values()]
        over = [sum(a > stats.t.ppf(q, df) for a, df in t) / max(1, len(t)) for q in (0.975, 0.995)]
        seeds = sorted(r["seed"] for r in recs)
        line = (f"{label}: {fails} failed of {len(recs)} seeds ({seeds[0]}-{seeds[-1]}); per statistic "
                f"|t| > t95 {over[0]:.1%}, > t99 {over[1]:.1%} of {len(t)}")
        ctl = [r["control_ok"] for r in recs if r.get("control_ok") is not None]
        if ctl:
            line += f"; control failed {sum(not c for c in ctl)} of {len(ctl)}"
        print(line)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("family", choices=["moves", "metropolis", "ladder", "live-ladder", "stages", "diagnostics", "summary"])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--first", type=int, default=100, help="first seed (the tests use small seeds)")
    p.add_argument("--case", default=None, help="moves: one target:mix (default: every case of the test)")
    p.add_argument("--control", action="store_true", help="run the negative control: count detections")
    p.add_argument("--out", default=None, help="append one JSON line per seed and check to this file")
    p.add_argument("--files", nargs="*", default=[], help="summary: the --out files to tabulate")
    a = p.parse_args(argv)
    if a.family == "summary":
        return summary_of_files(a.files)
    from stat_helpers import Check

    summary = []
    for label, run in _checks(a.family, a.case, a.control):
        outcomes, controls = [], []
        for seed in range(a.first, a.first + a.seeds):
            t0 = time.perf_counter()
            try:
                result = run(seed)
            except AssertionError as exc:  # a design check (batches too short): counted as a failure
                print(f"{label} seed {seed}: FAIL (design check) {exc}", flush=True)
                result = Check(False, [], 1, 0.0)
            check, control = result if isinstance(result, list) else (result, None)
            outcomes.append(check)
            line = f"{label} seed {seed}: {'ok' if check.ok else 'FAIL'}"
            if control is not None:
                controls.append(control)
                line += f"; control {'passed (missed)' if control.ok else 'failed (detected)'}"
            print(f"{line} ({time.perf_counter() - t0:.1f} s)", flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps({"label": label, "seed": seed, "ok": check.ok, "df": check.df,
                                        "alpha": check.alpha, "t": {r[0]: r[4] for r in check.rows},
                                        "control_ok": None if control is None else control.ok}) + "\n")
        summary.append(summarise(label, outcomes, a.seeds, a.control))
        if controls:
            summary.append(summarise(label + " control (rung 1 as cold)", controls, len(controls), True))
        print(summary[-1], flush=True)
    print("\n".join(["", "SUMMARY", *summary]), flush=True)


if __name__ == "__main__":
    main()
