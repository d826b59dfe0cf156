"""ChartsView draws real Metrics from a real SQLite database and follows it when refreshed."""

from __future__ import annotations

import pyqtgraph as pg
import shiboken6

from console.charts_view import ChartsView
from console.tasks import wait_for_tasks
from engine.metrics import collect_metrics


def _bars(plot: pg.PlotWidget) -> list[pg.BarGraphItem]:
    return [i for i in plot.getPlotItem().items if isinstance(i, pg.BarGraphItem)]


def test_charts_draw_the_database_and_follow_refresh(qtbot, db, add_media):
    add_media(db, completed=40, failed=2, pending=3)
    view = ChartsView(lambda: collect_metrics(db))
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
    labels = [t for t in view.histogram.getPlotItem().items if isinstance(t, pg.InfiniteLine)]
    assert {line.label.format.split()[0] for line in labels} == {"p50", "p95"}
    assert sorted(_bars(view.reasons)[0].opts["width"]) == [1, 1]

    add_media(db, failed=6, seed=2)
    with qtbot.waitSignal(view.refreshed, timeout=10_000) as second:
        view.refresh()
    assert second.args[0].status_counts["failed"] == 8
    assert _bars(view.status)[0].opts["height"] == [3, 0, 40, 8]
    assert view._success.text() == f"{40 / 48 * 100:.1f}%"
    view.close()


def test_empty_database_says_no_data(qtbot, db):
    view = ChartsView(lambda: collect_metrics(db))
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.show()
    texts = [i.textItem.toPlainText() for i in view.reasons.getPlotItem().items if isinstance(i, pg.TextItem)]
    assert texts == ["No failures"]
    assert view._success.text() == "n/a"
    view.close()


def test_a_failing_provider_is_shown_not_raised(qtbot):
    def broken():
        raise RuntimeError("database is locked")

    view = ChartsView(broken)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.failed, timeout=10_000) as blocker:
        view.refresh()
    assert "database is locked" in blocker.args[0]
    assert "database is locked" in view._updated.text()


def test_result_after_the_view_is_gone_is_ignored(qtbot, db, add_media):
    add_media(db, completed=5)
    view = ChartsView(lambda: collect_metrics(db))
    view.refresh()
    shiboken6.delete(view)  # closed while the query runs
    assert wait_for_tasks(10_000)
    qtbot.wait(50)  # let the queued result arrive: it must find no widget and do nothing
