"""Temperature assignments you can see: a few walkers' rungs over time, their round trips,
the ejections as events, and the swap acceptance of every adjacent pair of rungs.

The swap move exchanges *positions* between walkers of adjacent rungs (each walker index keeps
its rung), so "a walker moving between rungs" is a replica: a point handed from index to
index. `ReplicaTracker` follows a few replicas on the worker thread, sweep by sweep: after a
swap sweep it finds each replica's point again (swaps copy coordinates bit for bit); after
any other sweep the replica is where it was. Under the naive rule a point can be copied over
and lost: the replica then continues from the walker that held it.
"""

from __future__ import annotations

import collections
import threading
from typing import NamedTuple

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, Label, Range1d

from .figures import HOT, empty, follow_range, make_figure

__all__ = ["ReplicaTracker", "RungTrace", "RungView", "pair_acceptance"]

REPLICAS = 4
WINDOW = 300  # sweeps kept in the rung trace
MAX_SEARCH = 400_000  # walkers: above this the replicas are not followed (the search is O(walkers))
REPLICA_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")


def pair_acceptance(sampler, rec: dict | None = None) -> np.ndarray | None:
    """Acceptance per adjacent pair of rungs: the sampler's cumulative figure where it has one
    (``Sampler.pair_acceptance()``), else the sweep record's ``pair_acceptance``, else None."""
    fn = getattr(sampler, "pair_acceptance", None)
    if callable(fn):
        try:
            v = fn()
            if v is not None:
                return np.asarray(v, dtype=float)
        except Exception:
            pass
    v = (rec or {}).get("pair_acceptance")
    return None if v is None else np.asarray(v, dtype=float)


class RungTrace(NamedTuple):
    """What the view draws (immutable, shared between threads)."""

    version: int
    temperatures: np.ndarray
    sweep: np.ndarray  # (n,)
    rungs: np.ndarray  # (n, replicas)
    walkers: np.ndarray  # the replicas' current walker indices
    round_trips: np.ndarray  # per replica
    ej_sweep: np.ndarray
    ej_count: np.ndarray
    pairs: np.ndarray  # acceptance per adjacent pair (NaN: not known yet)
    pairs_source: str
    move: str  # the last sweep's move ("metropolis", "swap", "diffusion", ...)
    before: np.ndarray  # the replicas' points before the last sweep (replicas, dim); empty at first
    after: np.ndarray  # and after it
    rung_before: np.ndarray
    rung_after: np.ndarray


class ReplicaTracker:
    """A few replicas' rungs over time (fed every sweep on the worker thread)."""

    def __init__(self, replicas: int = REPLICAS):
        self.replicas = replicas
        self._lock = threading.Lock()
        self._version = 0
        self._pick = None
        self.clear()

    def clear(self):
        with self._lock:
            self._idx = None
            self._vec = None
            self._sweeps = collections.deque(maxlen=WINDOW)
            self._rungs = collections.deque(maxlen=WINDOW)
            self._ej = collections.deque(maxlen=WINDOW)
            self._trips = np.zeros(self.replicas, np.int64)
            self._last_end = np.full(self.replicas, -1)  # last end of the ladder reached: 0 cold, 1 hottest
            self._pair_sum = None
            self._pair_n = 0
            self._pairs = None
            self._pairs_source = ""
            self._temps = np.ones(1)
            self._version += 1
            self._snap = None
            self._move = ""
            self._before = self._after = np.empty((0, 0))
            self._rung_before = self._rung_after = np.empty(0, np.int64)

    def pick(self, walker: int):
        """Follow the point now at ``walker`` as the first replica (server thread)."""
        with self._lock:
            self._pick = int(walker)

    def _start(self, rung: np.ndarray, k: int):
        targets = np.unique(np.linspace(0, k - 1, self.replicas).round().astype(int))
        idx = []
        for j in range(self.replicas):
            r = targets[j % len(targets)]
            members = np.flatnonzero(rung == r)
            idx.append(int(members[(j // len(targets)) % len(members)]))
        self._idx = np.array(idx)
        self._trips[:] = 0
        self._last_end[:] = -1

    def add(self, s, rec: dict):
        """Record one sweep of sampler ``s`` (worker thread)."""
        rung = s.rung
        pos = s.state.positions
        k = len(s.temperatures)
        with self._lock:
            if k < 2 or len(pos) > MAX_SEARCH:
                if self._idx is not None:
                    self._idx = None
                    self._version += 1
                return
            if self._idx is None or self._idx.max() >= len(pos) or not np.array_equal(self._temps, s.temperatures):
                self._temps = np.array(s.temperatures, dtype=float)
                self._sweeps.clear()
                self._rungs.clear()
                self._ej.clear()
                self._pair_sum, self._pair_n = None, 0
                self._start(rung, k)
                self._vec = None
            if self._pick is not None and self._pick < len(pos):
                self._idx[0] = self._pick
                self._trips[0], self._last_end[0] = 0, -1
                self._vec = None
            self._pick = None
            if rec.get("move") == "swap" and self._vec is not None:
                for j, i in enumerate(self._idx):
                    v = self._vec[j]
                    if np.array_equal(pos[i], v):
                        continue
                    hits = np.flatnonzero((pos == v).all(axis=1))
                    if len(hits):  # several: a copy (naive rule); take the one nearest in rung
                        self._idx[j] = int(hits[np.argmin(np.abs(rung[hits] - rung[i]))])
            before, rung_before = self._vec, self._rung_after
            self._vec = pos[self._idx].copy()
            r = rung[self._idx].astype(np.int64)
            self._move = str(rec.get("move") or rec.get("phase") or "")
            ok = before is not None and before.shape == self._vec.shape and len(rung_before) == len(r)
            self._before = before if ok else np.empty((0, pos.shape[1]))
            self._rung_before = rung_before if ok else np.empty(0, np.int64)
            self._after, self._rung_after = self._vec, r
            for j in range(self.replicas):
                end = 0 if r[j] == 0 else (1 if r[j] == k - 1 else -1)
                if end == 0 and self._last_end[j] == 1:
                    self._trips[j] += 1  # cold -> hottest -> cold
                if end >= 0:
                    self._last_end[j] = end
            self._sweeps.append(int(rec.get("sweep", len(self._sweeps))))
            self._rungs.append(r)
            if rec.get("move") == "swap":
                ej = int(rec.get("ejections", 0) or 0)
                if ej:
                    self._ej.append((int(rec.get("sweep", 0)), ej))
                self._update_pairs(s, rec, k)
            self._version += 1

    def _update_pairs(self, s, rec, k):
        cum = pair_acceptance(s) if callable(getattr(s, "pair_acceptance", None)) else None
        if cum is not None and len(cum) == k - 1:
            self._pairs, self._pairs_source = cum, "cumulative, per pair"
            return
        per = np.asarray(rec["pair_acceptance"], float) if rec.get("pair_acceptance") is not None else None
        if per is None and k == 2:  # one pair: the sweep's swap acceptance is that pair's
            per = np.array([rec.get("swap_acceptance", np.nan)], float)
        if per is None or len(per) != k - 1:
            self._pairs, self._pairs_source = np.full(k - 1, np.nan), "per-pair counts not reported by the sampler"
            return
        per = np.where(np.isfinite(per), per, 0.0)
        self._pair_sum = per if self._pair_sum is None else self._pair_sum + per
        self._pair_n += 1
        self._pairs, self._pairs_source = self._pair_sum / self._pair_n, "mean over swap sweeps"

    def snapshot(self) -> RungTrace | None:
        """The trace now (any thread); None when nothing is followed."""
        with self._lock:
            if self._idx is None:
                return None
            if self._snap is None or self._snap.version != self._version:
                ej = np.array(self._ej, dtype=float).reshape(-1, 2)
                k = len(self._temps)
                self._snap = RungTrace(
                    version=self._version, temperatures=self._temps.copy(),
                    sweep=np.array(self._sweeps, dtype=float),
                    rungs=np.array(self._rungs, dtype=float).reshape(-1, self.replicas),
                    walkers=self._idx.copy(), round_trips=self._trips.copy(), ej_sweep=ej[:, 0], ej_count=ej[:, 1],
                    pairs=self._pairs.copy() if self._pairs is not None else np.full(k - 1, np.nan),
                    pairs_source=self._pairs_source, move=self._move, before=self._before, after=self._after,
                    rung_before=self._rung_before, rung_after=self._rung_after)
            return self._snap


class RungView:
    """Two figures: the replicas' rung traces (with ejection ticks) and acceptance per pair."""

    def __init__(self, source_of_trace):
        """``source_of_trace``: a `worker.Worker` (its ``replicas``) or a callable returning a
        `RungTrace` (a watcher's page)."""
        if callable(source_of_trace):
            self._get = source_of_trace
        else:
            tracker = getattr(source_of_trace, "replicas", None)
            self._get = tracker.snapshot if tracker is not None else (lambda: None)
        p = self.trace_fig = make_figure("Rungs of 4 walkers", 330, 220,
                                         x_range=Range1d(0, 50), y_range=Range1d(-0.9, 1.5), name="mdhmc-rung-trace-fig")
        self.trace = ColumnDataSource({"xs": [], "ys": [], "color": [], "label": []}, name="mdhmc-rung-trace")
        p.multi_line("xs", "ys", source=self.trace, line_color="color", line_width=2.5, line_alpha=0.85)
        self.ej = ColumnDataSource(empty("x", "y", "n"), name="mdhmc-ejections")
        p.scatter("x", "y", source=self.ej, marker="inverted_triangle", size=9, fill_color=HOT, line_color=None,
                  legend_label="ejection")
        p.legend.location = "top_right"
        p.legend.label_text_font_size = "11px"
        p.legend.background_fill_alpha = 0.7
        p.legend.padding, p.legend.spacing, p.legend.margin = 1, 0, 2
        p.xaxis.axis_label = "sweep"
        p.yaxis.axis_label = "rung (0 = cold)"
        self.note = Label(x=8, y=8, x_units="screen", y_units="screen", text="", text_font_size="11px",
                          text_color="#555555", background_fill_color="white", background_fill_alpha=0.8)
        p.add_layout(self.note)
        q = self.pairs_fig = make_figure("Swap acc. per pair", 330, 170,
                                         x_range=FactorRange(factors=["T0↔T1"]), y_range=Range1d(0, 1), name="mdhmc-pairs-fig")
        self.pairs = ColumnDataSource({"pair": ["T0↔T1"], "acc": [0.0], "label": [""]}, name="mdhmc-pair-acceptance")
        q.vbar(x="pair", top="acc", width=0.7, source=self.pairs, fill_color="#6a51a3", line_color=None)
        q.text(x="pair", y="acc", text="label", source=self.pairs, text_align="center", text_baseline="bottom",
               text_font_size="11px")
        q.xgrid.grid_line_color = None
        q.toolbar_location = None
        q.yaxis.axis_label = "acceptance"
        self.figures = [self.trace_fig, self.pairs_fig]
        self._version = None

    def apply(self, frame=None):
        snap = self._get()
        if snap is None:
            if self._version is not None:
                self._version = None
                self.trace.data = {"xs": [], "ys": [], "color": [], "label": []}
                self.ej.data = empty("x", "y", "n")
                self.note.text = "one rung in this stage: nobody changes temperature"
            elif not self.note.text:
                self.note.text = "one rung in this stage: nobody changes temperature"
            return
        if snap.version == self._version:
            return
        self._version = snap.version
        k = len(snap.temperatures)
        n = snap.rungs.shape[1]
        # a small vertical offset per walker so that lines on the same rung stay apart
        offs = (np.arange(n) - (n - 1) / 2) * 0.06
        self.trace.data = {"xs": [snap.sweep] * n, "ys": [snap.rungs[:, j] + offs[j] for j in range(n)],
                           "color": list(REPLICA_COLORS[:n]),
                           "label": [f"walker {w}: {t} round trips" for w, t in zip(snap.walkers, snap.round_trips)]}
        title = "Round trips: " + ", ".join(str(t) for t in snap.round_trips)
        if self.trace_fig.title.text != title:
            self.trace_fig.title.text = title
        self.ej.data = {"x": snap.ej_sweep, "y": np.full(len(snap.ej_sweep), -0.5), "n": snap.ej_count}
        yr = self.trace_fig.y_range
        if yr.end != k - 0.5 + 0.9:
            yr.update(start=-0.9, end=k - 0.5 + 0.9)
        if len(snap.sweep):
            follow_range(self.trace_fig.x_range, float(snap.sweep[0]), float(snap.sweep[-1]) + 1, chunk=50.0,
                         slack=100)
        labels = [f"T{r}↔T{r + 1}" for r in range(k - 1)]
        if list(self.pairs_fig.x_range.factors) != labels:
            self.pairs_fig.x_range.factors = labels
        acc = np.where(np.isfinite(snap.pairs), snap.pairs, 0.0)
        self.pairs.data = {"pair": labels, "acc": acc.tolist(),
                           "label": [f"{a:.2f}" if np.isfinite(a) else "–" for a in snap.pairs]}
        self.pairs_fig.title.text = "Swap acc. per pair" + (" (?)" if "not reported" in snap.pairs_source else "")
        self.note.text = "" if len(snap.sweep) > 1 else "waiting for the tempering phase"

    def __panel__(self):
        return pn.Column(*[pn.pane.Bokeh(f) for f in self.figures], margin=0)
