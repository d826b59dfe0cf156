"""The storage chart beside the health charts: a real engine's files by type, month and workspace, counted off
the GUI thread, and its place in the window's Charts view."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from console_helpers import media_status, send_media

from console.charts_view import ChartsView
from console.usage_chart import StorageUsageChart
from engine import MediaDeskEngine, StorageUsage, UsageSlice
from engine.simulator import CloudSimulator

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def _bars(plot: pg.PlotWidget) -> list[pg.BarGraphItem]:
    return [i for i in plot.getPlotItem().items if isinstance(i, pg.BarGraphItem)]


def _ticks(plot: pg.PlotWidget) -> list[str]:
    return [label for _, label in plot.getPlotItem().getAxis("bottom")._tickLevels[0]]


def test_the_chart_draws_the_engines_storage_counted_off_the_gui_thread(qtbot: Any, engine: MediaDeskEngine,
                                                                       sim: CloudSimulator) -> None:
    for wa_media_id, kind, mime in (("P1", "image", "image/jpeg"), ("P2", "image", "image/jpeg"),
                                    ("D1", "document", "application/pdf"), ("A1", "audio", "audio/ogg")):
        send_media(engine, sim, "4155550123", "Rossi Bakery", wa_media_id, kind=kind, mime=mime)
    for m in ("P1", "P2", "D1", "A1"):
        qtbot.waitUntil(lambda m=m: media_status(engine, m) == "completed", timeout=15_000)
    counted_on: list[threading.Thread] = []

    def provider() -> StorageUsage:
        counted_on.append(threading.current_thread())
        return engine.storage_usage()

    chart = StorageUsageChart(provider)
    qtbot.addWidget(chart)
    chart.resize(1000, 300)
    with qtbot.waitSignal(chart.refreshed, timeout=10_000) as done:
        chart.show()
    usage = done.args[0]
    assert counted_on and counted_on[0] is not threading.main_thread()
    assert usage.files == 4 and usage.local_bytes == usage.bytes > 0 and usage.s3_bytes == 0
    assert _ticks(chart.by_type) == ["Audio", "Documents", "Photos"]
    local, s3 = _bars(chart.by_type)
    assert len(local.opts["height"]) == 3 and all(h > 0 for h in local.opts["height"])
    assert list(s3.opts["height"]) == [0, 0, 0]
    assert len(_ticks(chart.by_month)) == 1 and _ticks(chart.by_workspace) == list(usage.by_workspace)
    assert "on this computer" in chart.summary.text() and "4 files" in chart.summary.text()
    assert "free of" in chart.disk.text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    chart.grab().save(str(SHOTS / "usage-chart.png"))
    chart.close()


def test_local_and_s3_stack_and_a_full_disk_shows_red(qtbot: Any) -> None:
    gb = 1024 ** 3
    usage = StorageUsage(
        media=900, files=800, bytes=7 * gb, bytes_if_copied=8 * gb, local_bytes=3 * gb, s3_bytes=4 * gb,
        by_type={"image": UsageSlice(2 * gb, 3 * gb, 600), "video": UsageSlice(gb, gb, 200)},
        by_month={f"2026-{m:02d}": UsageSlice(gb // 4, gb // 3, 60) for m in range(1, 13)} | {
            "2025-12": UsageSlice(gb, 0, 10)},
        by_workspace={"Rossi Bakery": UsageSlice(3 * gb, 4 * gb, 800)}, disk_free=gb, disk_total=100 * gb)
    chart = StorageUsageChart(lambda: usage)
    qtbot.addWidget(chart)
    chart.resize(1000, 300)
    with qtbot.waitSignal(chart.refreshed, timeout=10_000):
        chart.show()
    local, s3 = _bars(chart.by_type)
    assert list(local.opts["height"]) == [2.0, 1.0] and list(s3.opts["y0"]) == [2.0, 1.0]
    assert list(s3.opts["height"]) == [3.0, 1.0]
    months = chart.by_month.getPlotItem().getAxis("bottom")._tickLevels
    assert len(months[1]) == 12, "the last twelve months"
    assert [label for _, label in months[0]] == ["Mar 2026", "Jun 2026", "Sep 2026", "Dec 2026"]
    assert "#c62828" in chart.disk.styleSheet(), "1% free is a warning"
    assert "1.0 GB saved by sharing identical files" in chart.summary.text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    chart.grab().save(str(SHOTS / "usage-chart-s3.png"))
    chart.close()


def test_the_window_charts_view_holds_the_storage_chart(qtbot: Any, window: Any, engine: MediaDeskEngine,
                                                       sim: CloudSimulator) -> None:
    for wa_media_id, kind, mime in (("W1", "image", "image/jpeg"), ("W2", "video", "video/mp4")):
        send_media(engine, sim, "4155550199", "Rossi Bakery", wa_media_id, kind=kind, mime=mime)
    for m in ("W1", "W2"):
        qtbot.waitUntil(lambda m=m: media_status(engine, m) == "completed", timeout=15_000)
    window.resize(1280, 900)
    window.show_view("Charts")
    charts = window.findChild(ChartsView)
    chart = window.findChild(StorageUsageChart)
    assert charts is not None and chart is not None and charts.isAncestorOf(chart)
    qtbot.waitUntil(lambda: chart.usage is not None and charts.metrics is not None, timeout=10_000)
    assert chart.usage.files == 2 and set(chart.usage.by_type) == {"image", "video"}
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SHOTS / "charts-view-with-storage.png"))
