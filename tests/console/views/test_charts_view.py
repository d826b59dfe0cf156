"""ChartsView draws real Metrics from a real SQLite database, follows it when refreshed, and the window picked."""

from __future__ import annotations

import random
import time

import pyqtgraph as pg
import shiboken6

from console.chart_items import Marker
from console.charts_view import ChartsView, _running_median
from console.tasks import wait_for_tasks
from engine.metrics import collect_metrics


def _bars(plot: pg.PlotWidget) -> list[pg.BarGraphItem]:
    return [i for i in plot.getPlotItem().items if isinstance(i, pg.BarGraphItem)]


def test_charts_draw_the_database_and_follow_refresh(qtbot, db, add_media):
    add_media(db, completed=40, failed=2, pending=3)
    view = ChartsView(lambda w: collect_metrics(db, window=w), window="hour")
    qtbot.addWidget(view)
    view.resize(1280, 800)
    with qtbot.waitSignal(view.refreshed, timeout=10_000) as first:
        view.show()
    m = first.args[0]
    assert m.status_counts == {"pending": 3, "processing": 0, "completed": 40, "failed": 2, "removed": 0}
    assert view._success.text() == f"{40 / 42 * 100:.1f}%"
    assert _bars(view.status)[0].opts["height"] == [3, 0, 40, 2]
    assert _bars(view.histogram) and len(view.over_time.getPlotItem().listDataItems()) == 2
    assert sum(_bars(view.throughput)[0].opts["height"]) == 40
    lines = [t for t in view.histogram.getPlotItem().items if isinstance(t, Marker)]
    assert {line.text.split()[0] for line in lines} == {"p50", "p95"}
    assert {line.value for line in lines} == {m.processing_p50_s, m.processing_p95_s}
    assert sorted(_bars(view.reasons)[0].opts["width"]) == [1, 1]

    add_media(db, failed=6, seed=2)
    with qtbot.waitSignal(view.refreshed, timeout=10_000) as second:
        view.refresh()
    assert second.args[0].status_counts["failed"] == 8
    assert _bars(view.status)[0].opts["height"] == [3, 0, 40, 8]
    assert view._success.text() == f"{40 / 48 * 100:.1f}%"
    view.close()


def test_empty_database_says_no_data(qtbot, db):
    view = ChartsView(lambda w: collect_metrics(db, window=w), window="hour")
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.show()
    texts = [i.textItem.toPlainText() for i in view.reasons.getPlotItem().items
             if isinstance(i, pg.TextItem) and i.isVisible()]
    assert texts == ["No failures"]
    assert view._success.text() == "n/a"
    now = time.time()
    for plot in (view.over_time, view.throughput):  # empty, yet over the last hour: not 0..1 s after 1970
        (x0, x1), _ = plot.getPlotItem().getViewBox().viewRange()
        assert x0 < now - 3500 and now < x1 < now + 300
        label = plot._empty_label
        assert label.isVisible() and abs(label.pos().x() - (x0 + x1) / 2) < 1
    view.close()


def test_a_failing_provider_is_shown_not_raised(qtbot):
    def broken(window: str):
        raise RuntimeError("database is locked")

    view = ChartsView(broken)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.failed, timeout=10_000) as blocker:
        view.refresh()
    assert "database is locked" in blocker.args[0]
    assert "database is locked" in view._updated.text()


def test_result_after_the_view_is_gone_is_ignored(qtbot, db, add_media):
    add_media(db, completed=5)
    view = ChartsView(lambda w: collect_metrics(db, window=w), window="hour")
    view.refresh()
    shiboken6.delete(view)  # closed while the query runs
    assert wait_for_tasks(10_000)
    qtbot.wait(50)  # let the queued result arrive: it must find no widget and do nothing


def test_the_window_picker_asks_for_that_window_and_retitles(qtbot, db, add_media):
    add_media(db, completed=12, failed=1)
    asked: list[str] = []

    def provider(window: str):
        asked.append(window)
        return collect_metrics(db, window=window)

    view = ChartsView(provider, window="hour")
    qtbot.addWidget(view)
    view.resize(1280, 800)
    with qtbot.waitSignal(view.refreshed, timeout=10_000) as first:
        view.show()
    assert first.args[0].window == "hour" and view.window_picker.currentData() == "hour"
    assert [view.window_picker.itemData(i) for i in range(view.window_picker.count())] == ["hour", "today", "7d",
                                                                                            "30d"]
    with qtbot.waitSignal(view.refreshed, timeout=10_000,
                          check_params_cb=lambda m: m.window == "7d") as picked:
        view.window_picker.setCurrentIndex(view.window_picker.findData("7d"))
    m = picked.args[0]
    assert asked[-1] == "7d" and view.window == "7d" and m.step_s == 3600
    assert m.status_counts["completed"] == 12
    assert view._thru_head.text() == "Completed (last 7 days)"
    assert "per hour" in view.throughput.getPlotItem().titleLabel.text
    assert sum(_bars(view.throughput)[0].opts["height"]) == 12
    view.close()


def test_a_result_for_a_window_no_longer_picked_is_not_drawn(qtbot, db, add_media):
    add_media(db, completed=3)
    import threading

    release = threading.Event()

    def provider(window: str):
        if window == "hour":
            release.wait(10)  # the first query is still running when the owner picks another window
        return collect_metrics(db, window=window)

    view = ChartsView(provider, window="hour")
    qtbot.addWidget(view)
    drawn: list[str] = []
    view.refreshed.connect(lambda m: drawn.append(m.window))
    view.refresh()
    view.window_picker.setCurrentIndex(view.window_picker.findData("30d"))
    release.set()
    qtbot.waitUntil(lambda: drawn == ["30d"], timeout=10_000)
    assert view.metrics is not None and view.metrics.window == "30d"
    assert wait_for_tasks(10_000)
    assert drawn == ["30d"]


def test_a_refresh_redraws_only_the_parts_whose_figures_changed(qtbot, db, add_media):
    add_media(db, completed=20, failed=2)
    # Collected once each, so a minute turning over between two refreshes changes nothing here.
    collected = {"now": collect_metrics(db, window="30d")}
    view = ChartsView(lambda w: collected["now"], window="30d")
    qtbot.addWidget(view)
    view.resize(1280, 800)
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.show()
    drawn: list[str] = []
    for name in ("_draw_cards", "_draw_over_time", "_draw_histogram", "_draw_success", "_draw_status",
                 "_draw_throughput", "_draw_reasons"):
        def spy(m, draw=getattr(view, name), name=name):
            drawn.append(name)
            draw(m)
        setattr(view, name, spy)

    collected["now"] = collect_metrics(db, window="30d")  # the same figures, another Metrics
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.refresh()
    assert drawn == []

    add_media(db, pending=2, seed=2)  # only what is loading changes: nothing finished, nothing failed
    collected["now"] = collect_metrics(db, window="30d")
    with qtbot.waitSignal(view.refreshed, timeout=10_000) as blocker:
        view.refresh()
    assert blocker.args[0].status_counts["pending"] == 2
    assert drawn == ["_draw_cards", "_draw_status"]
    assert _bars(view.status)[0].opts["height"] == [2, 0, 20, 2]
    assert view._total.text() == "24"

    add_media(db, failed=1, seed=3)
    collected["now"] = collect_metrics(db, window="30d")
    drawn.clear()
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.refresh()
    assert {"_draw_success", "_draw_status", "_draw_reasons"} <= set(drawn)
    assert "_draw_histogram" not in drawn and "_draw_throughput" not in drawn  # failures take no time, bring no bar
    assert sum(_bars(view.reasons)[0].opts["width"]) == 3
    view.close()


def test_an_axis_label_follows_its_units_prefix_and_ranges_are_set_as_asked(qtbot):
    from console.charts_view import _padded, _plot, _set_range

    w = _plot("t", "time", "s")
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.show()
    item, axis = w.getPlotItem(), w.getPlotItem().getAxis("left")
    set_html = axis.label.setHtml
    sets: list[str] = []
    axis.label.setHtml = lambda html: (sets.append(html), set_html(html))[1]
    _set_range(item, (0, 1), (0, 20))
    assert "(s)" in axis.label.toHtml()
    _set_range(item, (0, 1), (0, 0.02))  # milliseconds now: the label says so
    assert "(ms)" in axis.label.toHtml() and len(sets) == 1
    _set_range(item, (0, 1), (0, 0.05))  # the same prefix: the label is not set again, the range moves
    assert "(ms)" in axis.label.toHtml() and axis.range == [0.0, 0.05] and len(sets) == 1
    _set_range(item, _padded(10, 20), (0, 30))
    assert "(s)" in axis.label.toHtml() and len(sets) == 2
    assert item.getViewBox().viewRange() == [[9.8, 20.2], [0.0, 30.0]]


def test_the_running_median_is_each_neighbourhoods_median():
    rnd = random.Random(4)
    for n in (0, 1, 2, 7, 60, 300):
        values = [rnd.choice([1.0, 2.0, rnd.random() * 10]) for _ in range(n)]
        for half in (1, 3, 7):
            direct = [sorted(values[max(0, i - half):i + half + 1])[len(values[max(0, i - half):i + half + 1]) // 2]
                      for i in range(n)]
            assert _running_median(values, half) == direct
