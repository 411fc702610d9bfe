"""Smoke tests of the side-by-side benchmarks (so the on-demand scripts cannot rot).

Needs the ``bench`` extra (emcee, jax, blackjax, matplotlib); skipped without it. The
whole module takes ~30-60 s, most of it JAX and numba compiling NUTS and the kernels.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:  # `benchmarks` is not an installed package: it lives in the repo root
    sys.path.insert(0, ROOT)

for _mod in ("emcee", "jax", "blackjax", "matplotlib"):
    pytest.importorskip(_mod)

from mdhmc import targets  # noqa: E402
from mdhmc.sampler import preconditioning  # noqa: E402
from benchmarks import accuracy, checkpoints, compare, jax_targets, methods  # noqa: E402

TWIN_CASES = [("scorpio", 2), ("multimodal", 2), ("funnel", 2), ("funnel", 10), ("stiff-wells", 100),
              ("stiff-wells", 1000)]


def _points(t, rng, n=40):
    """Exact draws, dispersed starts (the tails the samplers start from) and the origin."""
    from mdhmc.sampler.ensemble import dispersed_starts

    X = [t.sample_exact(n, rng), dispersed_starts(t, n, rng), np.zeros((1, t.dim))]
    return np.ascontiguousarray(np.concatenate(X), dtype=np.float64)


@pytest.mark.parametrize("name,dim", TWIN_CASES)
def test_jax_twin_equals_numba_log_density(name, dim):
    import jax

    t = targets.get(name, dim if name in ("funnel", "stiff-wells") else None)
    X = _points(t, np.random.default_rng(dim))
    want = t.log_density_batch(X)
    got = np.asarray(jax.jit(jax.vmap(jax_targets.log_density(name, dim)))(X))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)


def test_jax_twin_gradient_equals_numba_gradient():
    import jax

    for name, dim in (("scorpio", 2), ("funnel", 10), ("stiff-wells", 100)):
        t = targets.get(name, dim if name != "scorpio" else None)
        X = t.sample_exact(5, np.random.default_rng(1))
        g = jax.vmap(jax.grad(jax_targets.log_density(name, dim)))(X)
        want = np.array([t.grad_log_density(np.ascontiguousarray(x)) for x in X])
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-8, atol=1e-8)


def test_fast_metrics_equal_reference_implementations():
    from scipy import stats

    from mdhmc.sampler.diagnostics import sliced_w1

    ref = accuracy.reference("scorpio")
    X = ref.target.sample_exact(900, np.random.default_rng(5)) * 1.1
    assert ref.metrics(X)["w1"] == pytest.approx(sliced_w1(X, ref.exact), rel=1e-9)
    fref = accuracy.reference("funnel-2")
    Y = fref.target.sample_exact(700, np.random.default_rng(6)) + 0.2
    m = fref.metrics(Y)
    assert m["ks_v"] == pytest.approx(stats.ks_2samp(Y[:, -1], fref.exact[:, -1]).statistic, abs=1e-12)
    assert m["ks_x"] == pytest.approx(stats.ks_2samp(Y[:, 0], fref.exact[:, 0]).statistic, abs=1e-12)
    wref = accuracy.reference("stiff-wells-100")
    exact = wref.metrics(wref.target.sample_exact(4000, np.random.default_rng(7)))
    assert exact["ok"] and exact["z_max"] < 0.1


def test_time_to_accuracy_needs_the_criterion_to_hold_to_the_end():
    def run(oks, phases=None):
        phases = phases or ["sampling"] * len(oks)
        return {"checkpoints": [{"wall_s": float(i + 1), "phase": p, "metrics": {"ok": ok}}
                                for i, (ok, p) in enumerate(zip(oks, phases))]}

    assert compare.time_to_accuracy(run([False, True, False, True, True])) == (2.0, 4.0)
    assert compare.time_to_accuracy(run([True, True, False])) == (1.0, math.inf)
    assert compare.time_to_accuracy(run([True, True, True], ["warmup", "sampling", "sampling"])) == (2.0, 2.0)


def test_write_page_keeps_hand_written_text(tmp_path):
    page = tmp_path / "R.md"
    page.write_text(f"# Title\n\nverdict\n\n{compare.BEGIN}\nold\n{compare.END}\n\nappendix\n")
    compare.write_page(str(page), "new table")
    text = page.read_text()
    assert "verdict" in text and "appendix" in text and "new table" in text and "old" not in text


def test_compare_smoke_runs_every_method_on_two_targets(tmp_path):
    out = tmp_path / "RESULTS.md"
    res = compare.main(["--smoke", "--out", str(out), "--assets", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert set(res["cases"]) == {"scorpio", "funnel-2"}
    for key, e in res["cases"].items():
        assert {r["method"] for r in e["runs"]} == set(methods.METHODS)
        for r in e["runs"]:
            cps = r["checkpoints"]
            assert cps, (key, r["method"])
            assert all(b["wall_s"] >= a["wall_s"] for a, b in zip(cps, cps[1:]))
            last = cps[-1]
            assert last["lp_evals"] > 0
            assert last["metrics"]["n"] > 0
            assert math.isfinite(last["metrics"]["z_max"])
            if r["method"] in ("hmc", "nuts"):
                assert last["grad_evals"] > 0 and last["divergences"] >= 0
            if r["method"] in ("metropolis", "emcee"):
                assert last["grad_evals"] == 0
            if r["method"] == "mdhmc":  # SPSA trajectories: its gradients are the search's, 17 a searcher
                assert last["grad_evals"] % (2 * preconditioning.SEARCH_PROBES + 1) == 0
        assert (tmp_path / f"bench_{key}.png").stat().st_size > 10_000
    assert res["cases"]["scorpio"]["cold"]["emcee"]["jit_s"] >= 0  # measured in a fresh process
    text = out.read_text()
    for label in methods.LABELS.values():
        assert label in text
    assert "bench_scorpio.png" in text
    assert json.loads((tmp_path / "r.json").read_text().replace("Infinity", "1e999"))["smoke"] is True


def test_methods_run_reports_draws_and_counts():
    ref = accuracy.reference("funnel-2")
    r = methods.run("metropolis", "funnel-2", seed=3, budget_s=0.3, evaluate=ref.metrics, smoke=True)
    assert r.final.draws is not None and r.final.draws.shape[1] == 2
    assert r.info["walkers"] == methods.SMOKE["walkers"]


def test_mdhmc_second_half_estimate_pools_only_the_later_draws(monkeypatch):
    """``estimate="second-half"`` (emcee's rule): each checkpoint pools the later half of the
    recorded sweeps kept so far, ``"all"`` every one of them; an unknown rule is refused.
    Compared within each run: two runs on a time budget record different numbers of sweeps."""
    ref = accuracy.reference("funnel-2")
    asked = {}  # rule -> (indices kept, indices pooled) at each checkpoint
    since = checkpoints._SweepBuffer.since

    def recording_since(self, i0):
        asked.setdefault(est, []).append((list(self.index), [j for j in self.index if j >= i0]))
        return since(self, i0)

    monkeypatch.setattr(checkpoints._SweepBuffer, "since", recording_since)
    infos = {}
    for est in methods.ESTIMATES:
        r = methods.run("mdhmc", "funnel-2", seed=1, budget_s=0.6, evaluate=ref.metrics, smoke=True, estimate=est)
        infos[est] = r.info["estimate"]
    assert infos == {e: e for e in methods.ESTIMATES}
    for kept, pooled in asked["all"]:
        assert pooled == kept
    kept, pooled = asked["second-half"][-1]  # the last checkpoint: long enough that the halves differ
    assert len(kept) >= 8 and 0.3 * len(kept) <= len(pooled) <= 0.7 * len(kept), (len(kept), len(pooled))
    assert pooled == kept[-len(pooled):]  # the later ones
    with pytest.raises(ValueError, match="unknown estimate"):
        methods.run("mdhmc", "funnel-2", budget_s=0.1, smoke=True, estimate="last")
