"""Lecture mode without a browser: capture (GIF with > 10 frames, PNG), the rung tracker,
lessons, the fair-share scheduler, presenter mode and the keyboard's actions, on
``App(live=False)`` driven frame by frame."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from mdhmc.dashboard import export, lessons, registry, scheduler
from mdhmc.dashboard.app import App
from mdhmc.dashboard.rungs import ReplicaTracker
from mdhmc.dashboard.watch import WatchPage
from mdhmc.sampler import Sampler, Settings
from mdhmc import targets


def run(app, frames: int):
    for _ in range(frames):
        app.worker.advance(1)
        app.draw()


@pytest.fixture(scope="module")
def app():
    a = App(live=False, stage="tempering", walkers=600, rungs=3)
    run(a, 16)
    yield a
    a.close()


def test_gif_of_the_cloud_has_more_than_ten_frames(app, tmp_path):
    path = tmp_path / "cloud.gif"
    data = export.cloud_gif(app.capture.recorder, path)
    im = Image.open(path)
    assert im.n_frames > 10 and im.size == (export.SIZE, export.SIZE)
    assert path.read_bytes() == data
    # the frames differ: the walkers moved between them
    im.seek(0)
    first = np.asarray(im.convert("RGB"))
    im.seek(im.n_frames - 1)
    assert (np.asarray(im.convert("RGB")) != first).any()


def test_png_snapshot_of_the_view(app):
    png = export.snapshot_png(app)
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size[0] > export.SIZE


def test_gif_without_frames_says_so():
    with pytest.raises(ValueError, match="no frames"):
        export.cloud_gif(export.CloudRecorder())


def test_rung_trace_follows_points_through_swaps():
    t = targets.get("scorpio")
    s = Sampler(t, Settings(walkers=300, rungs=3, seed=3), stage="tempering")
    tr = ReplicaTracker()
    moved = 0
    for _ in range(40):
        rec = s.sweep()
        before = tr.snapshot()
        tr.add(s, rec)
        snap = tr.snapshot()
        # each followed replica's point is where the tracker says it is
        np.testing.assert_array_equal(s.state.positions[snap.walkers], snap.after)
        assert set(np.unique(snap.rungs)) <= {0, 1, 2}
        if before is not None and rec.get("move") == "swap":
            moved += int((snap.rung_before != snap.rung_after).sum())
    assert moved > 0, "no followed walker ever changed rung in 40 sweeps"
    assert snap.pairs.shape == (2,)


def test_pair_acceptance_for_two_rungs_without_the_sampler_method():
    t = targets.get("scorpio")
    s = Sampler(t, Settings(walkers=200, rungs=2, seed=1), stage="tempering")
    tr = ReplicaTracker()
    accs = []
    for _ in range(30):
        rec = s.sweep()
        tr.add(s, rec)
        if rec.get("move") == "swap":
            accs.append(rec["swap_acceptance"])
    snap = tr.snapshot()
    if callable(getattr(s, "pair_acceptance", None)):  # #11's cumulative figure, where it exists
        np.testing.assert_allclose(snap.pairs, np.asarray(s.pair_acceptance(), float))
    else:
        np.testing.assert_allclose(snap.pairs, [np.mean(accs)])


def test_three_lessons_in_steps():
    ls = lessons.lessons()
    assert {k: len(v) for k, v in ls.items()} == {"funnel": 2, "naive-swap": 2, "scorpio": 3}
    assert [p["stage"] for _, p in ls["scorpio"]] == ["diffusion", "metropolis", "tempering"]
    assert [p["settings"]["naive_swap"] for _, p in ls["naive-swap"]] == [True, False]
    for steps in ls.values():
        for _, p in steps:
            assert len(p["description"]) > 150  # a paragraph


def test_lesson_next_loads_the_step(app):
    panel = app.lessons
    panel.choose.value = "funnel"
    panel.go(0)
    assert app.controls.target == "funnel" and app.controls.stage == "hmc"
    panel.go(panel.step + 1)
    assert app.controls.stage == "pipeline" and "step 2 of 2" in panel.text.object
    run(app, 2)


def test_scheduler_fewer_sweeps_per_frame_when_crowded():
    scheduler._seen.clear()
    alone = scheduler.frame_budget_s(10_001)
    for k in range(40):
        scheduler.frame_budget_s(10_100 + k)
    crowded = scheduler.frame_budget_s(10_001)
    assert alone == scheduler.ALONE_S
    # 41 sessions at MIN_FPS frames/s sweep SWEEP_SHARE of the cores together, no more
    assert crowded * 41 * scheduler.MIN_FPS == pytest.approx(scheduler.SWEEP_SHARE * scheduler.CORES)
    for k in range(40):
        scheduler.forget(10_100 + k)
    scheduler.forget(10_001)


def test_diagnostics_refresh_less_often_in_a_crowd():
    """All sessions' diagnostics together stay within DIAG_SHARE of the cores."""
    from mdhmc.dashboard import readout

    crowd = [1]
    d = readout.Diagnostics(crowd=lambda: crowd[0], cores=2)
    d.cost_s = 0.005
    assert d.interval_s() == readout.STATS_EVERY_S  # alone: the usual cadence
    crowd[0] = 40
    assert d.interval_s() == pytest.approx(0.005 * 40 / (2 * readout.DIAG_SHARE))  # 1 s
    assert d.interval_s() > readout.STATS_EVERY_S


def test_pages_poll_and_draw_their_views_less_often_in_a_crowd(monkeypatch):
    class Callback:
        period = 20

    monkeypatch.setattr(scheduler, "_viewers", 0)
    monkeypatch.setattr(scheduler, "active", lambda: 1)
    cb = Callback()
    assert scheduler.crowd() == 1.0 and scheduler.pace(cb, 20, 0.25) == 0.25 and cb.period == 20
    for _ in range(8 * scheduler.CROWD_FREE * scheduler.CORES - 1):  # a presenter's audience
        scheduler.viewer_opened()
    assert scheduler.crowd() == 8.0
    assert scheduler.pace(cb, 20, 0.25) == 2.0 and cb.period == 125  # the cloud still polled 8 times a second
    for _ in range(100):
        scheduler.viewer_closed()
    assert scheduler._viewers == 0 and scheduler.pace(cb, 20, 0.25) == 0.25 and cb.period == 20


def test_scheduler_runs_at_most_cores_sweeps_at_once():
    inside, most = [0], [0]
    lock = threading.Lock()

    def sweep():
        with scheduler.slot():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=sweep) for _ in range(4 * scheduler.CORES + 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert most[0] == scheduler.CORES


def test_scheduler_hands_slots_over_in_arrival_order_and_is_reentrant(monkeypatch):
    monkeypatch.setattr(scheduler, "SLOTS", 1)  # one slot: the hand-over order is the grant order
    order, release = [], threading.Event()

    def holder():
        with scheduler.slot():
            release.wait(10)

    def waiter(k):
        with scheduler.slot():
            order.append(k)
            with scheduler.slot():  # a frame published mid-sweep asks again: no deadlock
                pass

    holders = [threading.Thread(target=holder) for _ in range(scheduler.SLOTS)]
    for th in holders:
        th.start()
    time.sleep(0.2)  # every slot held
    waiters = []
    for k in range(5):
        waiters.append(threading.Thread(target=waiter, args=(k,)))
        waiters[-1].start()
        time.sleep(0.05)  # arrival order 0, 1, 2, ...
    assert order == []
    release.set()
    for th in holders + waiters:
        th.join(10)
    assert not any(th.is_alive() for th in waiters)
    assert order == sorted(order) and len(order) == 5
    assert scheduler._running == 0 and not scheduler._waiting


def test_watch_page_mirrors_the_presenter(app):
    run(app, 1)
    viewer = WatchPage(app.worker.id, live=False)
    assert viewer.frames == 1
    frame = registry.latest(app.worker.id)
    np.testing.assert_array_equal(viewer.cloud.walkers.data["x"], frame.walkers.x)
    assert not viewer.draw()  # nothing new
    run(app, 1)
    assert viewer.draw()
    gone = WatchPage(987_654, live=False)
    assert gone.frames == 0 and "not open" in gone.status.object


def test_keys_drive_the_sampler_and_the_animation(app):
    app.controls.playing = True
    app.keys.press(" ")
    assert app.controls.playing is False and app.keys.last == "play_pause"
    app.keys.press("x")  # not a shortcut
    assert app.keys.last == "play_pause"
    app.animation.on.value = True
    playing = app.animation.play.value
    app.keys.press(" ")
    assert app.animation.play.value is not playing
    app.animation.on.value = False


def test_animation_reveals_points_in_order():
    a = App(live=False, stage="diffusion", walkers=200, steps=60)
    try:
        run(a, 2)
        anim = a.animation
        anim.on.value = True
        assert anim._rec is not None
        n = len(anim._rec["x"])
        anim.speed.value = 200
        lengths = []
        for _ in range(200):
            anim.tick()
            k = len(anim.points.data["x"])
            lengths.append(k)
            np.testing.assert_array_equal(anim.points.data["x"], anim._rec["x"][:k])
            if k == n:
                break
            time.sleep(0.01)
        assert lengths == sorted(lengths) and lengths[-1] == n
        assert len(anim.drawn.data["x"]) == 1
        anim.reset()
        assert len(anim.points.data["x"]) == 0
        anim.on.value = False
    finally:
        a.close()


def test_a_frame_whose_views_were_skipped_is_drawn_whole_once_no_newer_comes(monkeypatch):
    """Views and strip are drawn at most 4 times a second; the last frame before a pause (a Step's
    one sweep) must still reach them, or the page shows the sweep before it for good."""
    from mdhmc.dashboard import app as app_module

    a = App(live=False, stage="metropolis", walkers=200)
    try:
        a._live, a._loaded = True, True  # throttled as a served page is
        monkeypatch.setattr(a, "_connected", lambda: True)
        monkeypatch.setattr(app_module, "VIEWS_EVERY_S", 30.0)  # no time-based redraw in this test
        a.controls.playing = False
        run(a, 1)
        shown = a.strip.text.object
        a.worker.step()
        a.worker.advance(1)
        assert a.draw() and a._stale is not None and a.strip.text.object == shown  # cloud only
        monkeypatch.setattr(app_module, "VIEWS_EVERY_S", 0.0)
        a.flow.ack.tags = [a.flow.sent]  # the page has shown every frame
        cloud, gif = a.cloud.walkers.data, len(a.capture.recorder.frames)
        a._tick()  # no newer frame: the skipped one's views and strip are drawn
        assert a._stale is None and a.strip.text.object != shown
        # ... but not its cloud again: the page has it (sent again, it was a walker update after
        # Pause), nor a second GIF frame of it
        assert a.cloud.walkers.data is cloud and len(a.capture.recorder.frames) == gif
    finally:
        a.close()


def test_closed_tabs_are_neither_in_the_document_nor_drawn_and_open_with_the_newest_frame():
    """Only the open tab is in the page's document (a room of pages: Bokeh maps every model of a
    document per message); its views are drawn, the others when their tab opens."""
    from bokeh.document import Document

    import panel as pn

    a = App(live=False, stage="tempering", walkers=200)
    try:
        doc = Document()
        doc.add_root(pn.panel(a).get_root(doc))
        a._live, a._loaded = True, True  # drawn as a served page is
        a._views_every_s = 0.0  # every frame draws the open tab's views
        names = {m.name for m in doc.models}
        assert "mdhmc-energy" in names and "mdhmc-qq-x" not in names and "mdhmc-mass" not in names
        assert len(doc.models) < 650  # all six tabs: ~1,100
        drawn = {"energy": [], "qq": [], "mass": []}  # the frames each view was given
        for name, seen in drawn.items():
            view = getattr(a, name)
            real = view.apply
            view.apply = lambda f, _seen=seen, _real=real: (_seen.append(f.seq), _real(f))[1]
        run(a, 3)
        assert len(drawn["energy"]) == 3 and drawn["qq"] == [] and drawn["mass"] == []  # closed: not drawn
        a.tabs.active = 1  # Q-Q opens: drawn at once from the newest frame, and now in the document
        assert drawn["qq"] == [a._last.seq] and "mdhmc-qq-x" in {m.name for m in doc.models}
        run(a, 2)
        assert len(drawn["qq"]) == 3  # open: drawn every frame
        a.tabs.active = 3
        assert drawn["mass"] == [a._last.seq] and "mdhmc-mass" in {m.name for m in doc.models}
        run(a, 2)
        assert len(drawn["qq"]) == 3 and len(drawn["mass"]) == 3  # Q-Q closed again, Mass open
    finally:
        a.close()


def test_served_frames_are_drawn_when_published_and_when_acknowledged():
    """FrameFlow.drive: a frame goes out when the worker publishes it (one callback on the
    server's loop however often it is woken) or when the page acknowledges one, never polled.
    The server's loop runs in a thread of its own here (the test process has its own loops)."""
    import asyncio

    from tornado.ioloop import IOLoop

    from mdhmc.dashboard.flow import FrameFlow

    flow = FrameFlow(in_flight=1)
    drawn, ready, done = [], threading.Event(), threading.Event()
    box = {}

    def draw():
        drawn.append(flow.sent)
        flow.stamp()
        return True

    def serve():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        box["io"] = IOLoop.current()
        flow.drive(draw, None)
        ready.set()
        loop.run_until_complete(asyncio.to_thread(done.wait))
        loop.close()

    def on_loop(fn):
        """Run ``fn`` on the server's loop and wait for it (as Bokeh runs a page's message)."""
        finished = threading.Event()
        box["io"].add_callback(lambda: (fn(), finished.set()))
        assert finished.wait(5)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        assert ready.wait(5)
        woke = [threading.Thread(target=flow.wake) for _ in range(5)]  # five publishes, from workers
        for t in woke:
            t.start()
        for t in woke:
            t.join()
        on_loop(lambda: None)
        assert drawn == [0]  # one draw; the page has not shown it yet
        flow.wake()
        on_loop(lambda: None)
        assert drawn == [0]  # in flight: held back
        on_loop(lambda: setattr(flow.ack, "tags", [1]))  # the page showed frame 1: the waiting one goes out
        assert drawn == [0, 1] and flow.rtt_n == 1
        flow.stop()
        on_loop(lambda: setattr(flow.ack, "tags", [2]))
        flow.wake()
        on_loop(lambda: None)
        assert drawn == [0, 1]  # stopped: nothing more
    finally:
        done.set()
        server.join(5)


def test_viewers_are_woken_by_the_presenters_frames():
    app = App(live=False, stage="tempering", walkers=200)
    woken = []
    wake = lambda: woken.append(1)  # noqa: E731
    try:
        registry.listen(app.worker.id, wake)
        before = app.worker.published
        try:
            run(app, 2)
            # one wake per published frame (a sweep longer than a frame also publishes mid-sweep)
            assert len(woken) == app.worker.published - before >= 2
        finally:
            registry.unlisten(app.worker.id, wake)
        n = len(woken)
        run(app, 1)
        assert len(woken) == n and app.worker.id not in registry._listeners
    finally:
        app.close()


def test_slot_times_split_waits_holds_and_cpu_by_kind():
    times = scheduler.SlotTimes()
    scheduler.track(times)
    try:
        with scheduler.slot("stats"):
            t = time.thread_time()
            while time.thread_time() - t < 0.02:
                pass
        with scheduler.slot():
            time.sleep(0.02)  # held, not computing
    finally:
        scheduler.track(None)
    (n_s, _, hold_s, cpu_s), (n_w, _, hold_w, cpu_w) = times.kinds["stats"], times.kinds["sweep"]
    assert n_s == n_w == 1 and hold_s >= 0.02 and cpu_s >= 0.015 and hold_w >= 0.02 and cpu_w < 0.01
    assert "stats 1 x" in times.summary() and "sweep 1 x" in times.summary()


def test_unmoved_walkers_are_not_sent_again(app):
    """A frame whose walkers did not move (new settings while paused) leaves the cloud's source
    alone: sent again, 2,000-5,000 walkers were repainted and counted as a late update after Pause."""
    import dataclasses

    run(app, 1)
    frame = registry.latest(app.worker.id)
    app.cloud.apply(frame)
    x0 = app.cloud.walkers.data["x"]
    same = dataclasses.replace(frame, walkers=dataclasses.replace(frame.walkers, x=frame.walkers.x.copy(),
                                                                    y=frame.walkers.y.copy()))
    app.cloud.apply(same)
    assert app.cloud.walkers.data["x"] is x0
    moved = dataclasses.replace(frame, walkers=dataclasses.replace(frame.walkers, x=frame.walkers.x + 1))
    app.cloud.apply(moved)
    np.testing.assert_array_equal(app.cloud.walkers.data["x"], frame.walkers.x + 1)
