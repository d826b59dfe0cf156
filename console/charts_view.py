"""Health charts (SPEC section 5): the engine's Metrics drawn with pyqtgraph, live while the engine works.

Metrics are computed off the GUI thread (a few SQL queries over 50,000 rows can take a while) and the
result comes back on the GUI thread, the only place where plots change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QHideEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from console.tasks import run_task
from engine import PROCESSING_TARGET_S, SUCCESS_TARGET, UNAVAILABLE_TARGET, FailureReason, Metrics

REFRESH_MS = 3000
STATUS_COLORS = {"pending": "#f0a030", "processing": "#1e88e5", "completed": "#43a047", "failed": "#e53935"}
GOOD, BAD, INK, MUTED, ACCENT = "#2e7d32", "#c62828", "#222222", "#666666", "#3f6fb5"
MAX_REASONS = 8


def _epoch(iso: str) -> float:
    """The engine writes naive UTC timestamps; DateAxisItem wants epoch seconds (it shows local time)."""
    at = datetime.fromisoformat(iso)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _running_median(values: list[float], half: int) -> list[float]:
    out = []
    for i in range(len(values)):
        window = sorted(values[max(0, i - half):i + half + 1])
        out.append(window[len(window) // 2])
    return out


def _secs(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f}%"


def _plot(title: str, left: str, left_units: str | None = None, bottom: str | None = None,
          bottom_units: str | None = None, date_axis: bool = False) -> pg.PlotWidget:
    axis = {"bottom": pg.DateAxisItem(orientation="bottom")} if date_axis else None
    w = pg.PlotWidget(background="w", axisItems=axis)
    item = w.getPlotItem()
    item.setTitle(title, color=INK, size="11pt")
    item.setMenuEnabled(False)
    item.hideButtons()
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen("#999999"))
        ax.setTextPen(pg.mkPen(INK))
    item.setLabel("left", left, units=left_units, color=MUTED)
    if bottom:
        item.setLabel("bottom", bottom, units=bottom_units, color=MUTED)
    item.showGrid(x=False, y=True, alpha=0.15)
    w.setMinimumSize(300, 220)
    return w


def _empty(w: pg.PlotWidget, text: str = "No data yet") -> None:
    """Say so, rather than show an empty frame that looks broken."""
    item = w.getPlotItem()
    label = pg.TextItem(text, color=MUTED, anchor=(0.5, 0.5))
    item.addItem(label)
    label.setPos(0.5, 0.5)
    item.setXRange(0, 1)
    item.setYRange(0, 1)


def _card(title: str) -> tuple[QFrame, QLabel, QLabel]:
    frame = QFrame()
    frame.setObjectName("card")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(14, 8, 14, 8)
    lay.setSpacing(0)
    head = QLabel(title)
    head.setStyleSheet(f"color: {MUTED}; font-size: 10pt;")
    value = QLabel("–")
    value.setStyleSheet(f"color: {INK}; font-size: 20pt; font-weight: 600;")
    sub = QLabel("")
    sub.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
    for w in (head, value, sub):
        lay.addWidget(w)
    return frame, value, sub


class ChartsView(QWidget):
    """Six charts and four key figures over `metrics_provider()`; refreshed every few seconds while shown."""

    refreshed = Signal(object)  # the Metrics just drawn
    failed = Signal(str)

    def __init__(self, metrics_provider: Callable[[], Metrics], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._provider = metrics_provider
        self._busy = False
        self._again = False
        self.metrics: Metrics | None = None
        self.setObjectName("chartsView")
        self.setStyleSheet("#chartsView { background: white; }"
                           "#card { background: #f6f8fb; border: 1px solid #dde3ea; border-radius: 6px; }")
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._build()

    # -- layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        root.setSpacing(10)
        cards = QHBoxLayout()
        cards.setSpacing(10)
        c1, self._total, self._total_sub = _card("Media received")
        c2, self._unavail, self._unavail_sub = _card("Content not available")
        c3, self._proc, self._proc_sub = _card("Processing time (avg)")
        c4, self._thru, self._thru_sub = _card("Completed in the last hour")
        for c in (c1, c2, c3, c4):
            cards.addWidget(c, 1)
        root.addLayout(cards)

        self.over_time = _plot("Processing time per media (recent)", "time", "s", date_axis=True)
        self.histogram = _plot("Processing time distribution", "media", None, "processing time", "s")
        self.status = _plot("Status breakdown", "media")
        self.throughput = _plot("Throughput (completed per minute)", "media / min", date_axis=True)
        self.reasons = _plot("Failure reasons", "")
        self.reasons.getPlotItem().getAxis("left").setWidth(150)
        self.success_bar = _plot("", "")
        self.success_bar.getPlotItem().getAxis("left").hide()
        self.success_bar.setMinimumSize(200, 80)
        self.success_bar.setMaximumHeight(110)

        grid = QGridLayout()
        grid.setSpacing(10)
        grid.addWidget(self.over_time, 0, 0)
        grid.addWidget(self.histogram, 0, 1)
        grid.addWidget(self._success_panel(), 0, 2)
        grid.addWidget(self.status, 1, 0)
        grid.addWidget(self.throughput, 1, 1)
        grid.addWidget(self.reasons, 1, 2)
        for col in range(3):
            grid.setColumnStretch(col, 1)
        root.addLayout(grid, 1)
        self._updated = QLabel("Waiting for the first figures…")
        self._updated.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        self._updated.setAlignment(Qt.AlignmentFlag.AlignRight)
        root.addWidget(self._updated)

    def add_panel(self, panel: QWidget) -> None:
        """A panel of its own below the charts (storage usage), above the refresh note; it refreshes itself."""
        # The layout is asked for, not kept: a Python reference to it outlives a view deleted while a query runs.
        root = self.layout()
        root.insertWidget(root.count() - 1, panel)

    def _success_panel(self) -> QWidget:
        panel = QFrame()
        panel.setObjectName("card")
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(14, 8, 14, 8)
        title = QLabel("Media load success rate")
        title.setStyleSheet(f"color: {INK}; font-size: 11pt;")
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._success = QLabel("–")
        font = QFont()
        font.setPointSize(40)
        font.setBold(True)
        self._success.setFont(font)
        self._success.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._success_sub = QLabel(f"target {SUCCESS_TARGET * 100:.0f}%+")
        self._success_sub.setStyleSheet(f"color: {MUTED};")
        self._success_sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        lay.addStretch(1)
        lay.addWidget(self._success)
        lay.addWidget(self._success_sub)
        lay.addStretch(1)
        lay.addWidget(self.success_bar)
        return panel

    # -- live updates
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._timer.start()
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        # Nobody looks at hidden charts: no reason to query the database for them.
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        """Fetch metrics off the GUI thread; at most one query in flight, a request meanwhile runs after it."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        run_task(self._provider, self._on_metrics, self._on_error)

    def _on_metrics(self, metrics: Metrics) -> None:
        if not shiboken6.isValid(self):  # the view was closed while the query ran
            return
        self._busy = False
        self.apply(metrics)
        self._updated.setText(f"Updated {datetime.now():%H:%M:%S} · refreshes every {REFRESH_MS // 1000} s")
        self.refreshed.emit(metrics)
        self._run_again()

    def _on_error(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self._updated.setText(f"Could not read the metrics: {exc}")
        self._updated.setStyleSheet(f"color: {BAD}; font-size: 9pt;")
        self.failed.emit(str(exc))
        self._run_again()

    def _run_again(self) -> None:
        if self._again:
            self._again = False
            self.refresh()

    # -- drawing
    def apply(self, m: Metrics) -> None:
        """Draw `m` (GUI thread only)."""
        self.metrics = m
        self._updated.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        self._draw_cards(m)
        self._draw_over_time(m)
        self._draw_histogram(m)
        self._draw_success(m)
        self._draw_status(m)
        self._draw_throughput(m)
        self._draw_reasons(m)

    def _draw_cards(self, m: Metrics) -> None:
        c = m.status_counts
        self._total.setText(f"{m.total:,}")
        self._total_sub.setText(f"{c.get('completed', 0):,} shown · {c.get('failed', 0):,} failed · "
                                f"{c.get('pending', 0) + c.get('processing', 0):,} loading"
                                + (f" · {c['removed']:,} removed by retention" if c.get("removed") else ""))
        share = m.unavailable_share
        self._unavail.setText(_pct(share, 2))
        self._unavail.setStyleSheet(f"color: {GOOD if share is None or share < UNAVAILABLE_TARGET else BAD};"
                                    "font-size: 20pt; font-weight: 600;")
        self._unavail_sub.setText(f"target under {UNAVAILABLE_TARGET * 100:.1f}%")
        avg = m.processing_avg_s
        self._proc.setText(_secs(avg))
        self._proc.setStyleSheet(f"color: {GOOD if avg is None or avg < PROCESSING_TARGET_S else BAD};"
                                 "font-size: 20pt; font-weight: 600;")
        self._proc_sub.setText(f"p50 {_secs(m.processing_p50_s)} · p95 {_secs(m.processing_p95_s)} · "
                               f"target under {PROCESSING_TARGET_S:.0f} s")
        done = sum(n for _, n in m.throughput)
        self._thru.setText(f"{done:,}")
        busiest = max((n for _, n in m.throughput), default=0)
        self._thru_sub.setText(f"busiest minute: {busiest:,} media")

    def _draw_over_time(self, m: Metrics) -> None:
        item = self.over_time.getPlotItem()
        item.clear()
        if not m.over_time:
            return _empty(self.over_time)
        xs = [_epoch(at) for at, _ in m.over_time]
        ys = [s for _, s in m.over_time]
        item.plot(xs, ys, pen=None, symbol="o", symbolSize=4, symbolBrush=(63, 111, 181, 110), symbolPen=None)
        # Single media are noisy; a running median shows whether the pipeline is getting slower.
        item.plot(xs, _running_median(ys, max(1, len(ys) // 40)), pen=pg.mkPen(ACCENT, width=2))
        item.enableAutoRange()

    def _draw_histogram(self, m: Metrics) -> None:
        item = self.histogram.getPlotItem()
        item.clear()
        if not m.histogram:
            return _empty(self.histogram)
        item.addItem(pg.BarGraphItem(x0=[a for a, _, _ in m.histogram], x1=[b for _, b, _ in m.histogram],
                                     height=[n for _, _, n in m.histogram], brush="#90b4e0", pen=pg.mkPen("w")))
        # p50's label sits right of its line, p95's left of its own (it is often the right edge of the
        # plot, where a label would be cut off), and lower, so the two never overlap.
        for name, value, color, where, side in (("p50", m.processing_p50_s, GOOD, 0.93, 0),
                                                ("p95", m.processing_p95_s, BAD, 0.75, 1)):
            if value is not None:
                item.addItem(pg.InfiniteLine(
                    value, angle=90, pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine),
                    label=f"{name} {_secs(value)}",
                    labelOpts={"position": where, "color": color, "fill": (255, 255, 255, 220),
                               "anchors": [(side, 0.5), (side, 0.5)]}))
        item.enableAutoRange()

    def _draw_success(self, m: Metrics) -> None:
        rate = m.success_rate
        ok = rate is None or rate >= SUCCESS_TARGET
        self._success.setText(_pct(rate, 1))
        self._success.setStyleSheet(f"color: {GOOD if ok else BAD};")
        done, failed = m.status_counts.get("completed", 0), m.status_counts.get("failed", 0)
        verdict = "on target" if rate is not None and ok else ("below target" if rate is not None else "no media yet")
        self._success_sub.setText(f"{done:,} of {done + failed:,} loaded · target {SUCCESS_TARGET * 100:.0f}%+ · "
                                  f"{verdict}")
        item = self.success_bar.getPlotItem()
        item.clear()
        item.addItem(pg.BarGraphItem(x0=[0], y=[0], height=0.6, width=[100], brush="#eceff3", pen=None))
        if rate is not None:
            item.addItem(pg.BarGraphItem(x0=[0], y=[0], height=0.6, width=[rate * 100],
                                         brush=GOOD if ok else BAD, pen=None))
        item.addItem(pg.InfiniteLine(SUCCESS_TARGET * 100, angle=90, pen=pg.mkPen(INK, width=2),
                                     label=f"target {SUCCESS_TARGET * 100:.0f}%",
                                     labelOpts={"position": 0.98, "color": INK, "anchors": [(1, 0), (1, 0)]}))
        # Zoom in when the rate is high: the gap between 97% and the 99% target must be visible.
        low = 0.0 if rate is None or rate < 0.85 else max(0.0, math.floor(rate * 20 - 1) * 5)
        item.setXRange(low, 100, padding=0.02)
        item.setYRange(-0.5, 1.4, padding=0)  # headroom above the bar for the target label
        item.setLabel("bottom", "% of finished media loaded", color=MUTED)

    def _draw_status(self, m: Metrics) -> None:
        item = self.status.getPlotItem()
        item.clear()
        names = list(STATUS_COLORS)
        counts = [m.status_counts.get(n, 0) for n in names]
        item.addItem(pg.BarGraphItem(x=list(range(len(names))), height=counts, width=0.6,
                                     brushes=[STATUS_COLORS[n] for n in names], pen=None))
        for i, n in enumerate(counts):
            label = pg.TextItem(f"{n:,}", color=INK, anchor=(0.5, 1))
            label.setPos(i, n)
            item.addItem(label)
        item.getAxis("bottom").setTicks([list(enumerate(names))])
        item.setXRange(-0.6, len(names) - 0.4, padding=0)
        item.setYRange(0, max(counts + [1]) * 1.18, padding=0)

    def _draw_throughput(self, m: Metrics) -> None:
        item = self.throughput.getPlotItem()
        item.clear()
        if not m.throughput:
            return _empty(self.throughput, "Nothing completed in the last hour")
        xs = [_epoch(at) + 30 for at, _ in m.throughput]  # centre each bar on its minute
        item.addItem(pg.BarGraphItem(x=xs, height=[n for _, n in m.throughput], width=50,
                                     brush=STATUS_COLORS["completed"], pen=None))
        item.setXRange(min(xs) - 60, max(xs) + 60, padding=0)
        item.setYRange(0, max(n for _, n in m.throughput) * 1.1, padding=0)

    def _draw_reasons(self, m: Metrics) -> None:
        item = self.reasons.getPlotItem()
        item.clear()
        if not m.failure_reasons:
            item.getAxis("left").setTicks([[]])
            return _empty(self.reasons, "No failures")
        top = sorted(m.failure_reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_REASONS]
        top.reverse()  # the most frequent reason on top
        counts = [n for _, n in top]
        item.addItem(pg.BarGraphItem(x0=0, y=list(range(len(top))), height=0.6, width=counts,
                                     brush=STATUS_COLORS["failed"], pen=None))
        for i, n in enumerate(counts):
            label = pg.TextItem(f" {n:,}", color=INK, anchor=(0, 0.5))
            label.setPos(n, i)
            item.addItem(label)
        item.getAxis("left").setTicks([[(i, FailureReason.label_for(k)) for i, (k, _) in enumerate(top)]])
        item.setYRange(-0.6, len(top) - 0.4, padding=0)
        item.setXRange(0, max(counts) * 1.2, padding=0)
        item.setLabel("bottom", "failed media", color=MUTED)
