"""Health charts (SPEC section 5): the engine's Metrics drawn with pyqtgraph, live while the engine works.

The owner picks the window (last hour, today, 7 days, 30 days). Metrics are read off the GUI thread (the
engine's roll-ups: a window's buckets, whatever the history) and the result comes back on the GUI thread, the
only place where plots change; a result for a window no longer picked is dropped.
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsTextItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from console.chart_axes import Axis, DateAxis
from console.chart_items import Bars, Dots, Labels, Marker
from console.tasks import run_task
from engine import METRICS_WINDOWS, PROCESSING_TARGET_S, SUCCESS_TARGET, UNAVAILABLE_TARGET, FailureReason, Metrics

REFRESH_MS = 3000
STATUS_COLORS = {"pending": "#f0a030", "processing": "#1e88e5", "completed": "#43a047", "failed": "#e53935"}
GOOD, BAD, INK, MUTED, ACCENT = "#2e7d32", "#c62828", "#222222", "#666666", "#3f6fb5"
MAX_REASONS = 8
STEP_WORDS = {60: "minute", 600: "10 minutes", 3600: "hour", 86400: "day"}


@functools.lru_cache(maxsize=8192)
def _epoch(iso: str) -> float:
    """The engine writes naive UTC timestamps; DateAxisItem wants epoch seconds (it shows local time). Kept: a
    refresh brings back the steps of the one before (30 days of hours, a week of 10 minutes: hundreds each)."""
    at = datetime.fromisoformat(iso)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _ceiling(v: float) -> float:
    """A round top for an axis: 1, 2, 2.5 or 5 times a power of ten, with headroom. Most refreshes keep
    the same one, so the axis is not laid out and painted again (that, not the bars, is most of a redraw)."""
    v = max(v * 1.1, 1.0)
    power = 10 ** math.floor(math.log10(v))
    return next(k * power for k in (1, 2, 2.5, 5, 10) if k * power >= v)


def _time_range(m: Metrics) -> tuple[float, float]:
    """The window itself, to the end of its current step: the same range all through a step."""
    start = _epoch(m.since) if m.since else time.time() - 3600
    step = m.step_s or 60
    return start, math.ceil(time.time() / step) * step


def _padded(low: float, high: float, padding: float = 0.02) -> tuple[float, float]:
    """`low`..`high` with room on both sides, as pyqtgraph's `padding` gives it."""
    room = (high - low) * padding
    return low - room, high + room


def _set_range(item: pg.PlotItem, x: tuple[float, float], y: tuple[float, float]) -> None:
    """Both ranges in one change: each change lays out both axes again (their labels included)."""
    item.getViewBox().setRange(xRange=x, yRange=y, padding=0)


def _running_median(values: list[float], half: int) -> list[float]:
    """The median of each value's neighbourhood (`half` on each side): one sorted window slid along, not a
    window sorted anew for every value (a day of minutes was 1,440 sorts)."""
    window = sorted(values[:half])
    out = []
    for i in range(len(values)):
        if i + half < len(values):
            bisect.insort(window, values[i + half])
        if i - half - 1 >= 0:
            del window[bisect.bisect_left(window, values[i - half - 1])]
        out.append(window[len(window) // 2])
    return out


def _secs(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f}%"


# A part of the view drawn in a turn of its own: (name, its plot or None, what of a Metrics it shows, draw).
_Part = tuple[str, pg.PlotWidget | None, Callable[[Metrics], object], Callable[[Metrics], None]]


def _plot(title: str, left: str, left_units: str | None = None, bottom: str | None = None,
          bottom_units: str | None = None, date_axis: bool = False, counts: str | None = None) -> pg.PlotWidget:
    """A plot with our axes; `counts` names the axis ("left" or "bottom") that counts media."""
    axis = {"left": Axis("left", counts=counts == "left"),
            "bottom": DateAxis(orientation="bottom") if date_axis else Axis("bottom", counts=counts == "bottom")}
    w = pg.PlotWidget(background="w", axisItems=axis)
    item = w.getPlotItem()
    item.setTitle(title, color=INK, size="11pt")
    item.setMenuEnabled(False)
    item.hideButtons()
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen("#999999"))
        ax.setTextPen(pg.mkPen(INK))
        ax.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Major and minor ticks, not pyqtgraph's third level too: that level's ticks (too close for labels)
        # were half of what an axis costs to draw again, and a refresh draws several axes again.
        # Room for tick labels grows and is not given back: a refresh whose top label is "800" after one whose
        # top was "1000" narrowed the axis, laid the whole plot out again and repainted all of it, and the
        # plot jumped sideways as it did.
        ax.setStyle(maxTickLevel=1, maxTextLevel=1, autoReduceTextSpace=False)
    for name in ("top", "right"):  # hidden, but pyqtgraph sets their (empty) labels again on every range change
        item.getAxis(name).enableAutoSIPrefix(False)
    item.setLabel("left", left, units=left_units, color=MUTED)
    if bottom:
        item.setLabel("bottom", bottom, units=bottom_units, color=MUTED)
    for name, units in (("left", left_units), ("bottom", bottom_units)):
        if units is None:  # a count: never "media (x0.001)"; and one label less set again when a range moves
            item.getAxis(name).enableAutoSIPrefix(False)
    item.showGrid(x=False, y=True, alpha=0.15)
    # A plot holds a few dozen items, most of which move on each refresh: Qt's index of where items are (a BSP
    # tree) was updated for each move and cost more than it saved a paint in looking items up.
    w.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
    w.setMinimumSize(300, 220)
    return w


def _cache_text(item: QGraphicsTextItem) -> None:
    """Keep a text's pixels: a refresh that moves a plot's range repaints the whole plot, and every title, axis
    label and value label in it was laid out and drawn again as rich text, most often unchanged."""
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _cache_texts(w: pg.PlotWidget) -> None:
    for item in w.scene().items():
        if isinstance(item, QGraphicsTextItem):
            _cache_text(item)


def _empty(w: pg.PlotWidget, text: str = "No data yet", x: tuple[float, float] = (0.0, 1.0)) -> None:
    """Say so, rather than show an empty frame that looks broken (the plot's own label, made once). A time plot
    passes its window as `x`: its axis then shows the window's times, not fractions of a second from 1970."""
    item = w.getPlotItem()
    label = getattr(w, "_empty_label", None)
    if label is None:
        label = w._empty_label = pg.TextItem(text, color=MUTED, anchor=(0.5, 0.5))
        _cache_text(label.textItem)
        item.addItem(label)
    label.setPos((x[0] + x[1]) / 2, 0.5)
    label.setText(text, color=MUTED)
    label.show()
    _set_range(item, x, (0, 1))


def _filled(w: pg.PlotWidget) -> None:
    label = getattr(w, "_empty_label", None)
    if label is not None:
        label.hide()


def _style(w: QWidget, css: str) -> None:
    """A style sheet set again, even the same, polishes the widget and lays its parent out anew: only on change."""
    if w.styleSheet() != css:
        w.setStyleSheet(css)


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
    """Six charts and four key figures over `metrics_provider(window)` for the window picked (a key of
    METRICS_WINDOWS); refreshed every few seconds while shown, and at once when another window is picked."""

    refreshed = Signal(object)  # the Metrics just drawn
    failed = Signal(str)

    def __init__(self, metrics_provider: Callable[[str], Metrics], parent: QWidget | None = None, *,
                 window: str = "today") -> None:
        super().__init__(parent)
        self._provider = metrics_provider
        self._window = window
        self._titled_step = 60  # the titles _build gives the plots
        self._success_low: float | None = None  # where the success bar's axis starts
        self._busy = False
        self._again = False
        self.metrics: Metrics | None = None
        self.setObjectName("chartsView")
        self.setStyleSheet("#chartsView { background: white; }"
                           "#card { background: #f6f8fb; border: 1px solid #dde3ea; border-radius: 6px; }")
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._turns: list[_Part] = []
        self._drawing = False  # turns under way (see _draw_in_turns)
        self._shown: dict[str, object] = {}  # part name -> the figures it shows (see _plots)
        self._turn_timer = QTimer(self)  # one part per turn of the event loop (see _draw_in_turns)
        self._turn_timer.setSingleShot(True)
        self._turn_timer.setInterval(0)
        self._turn_timer.timeout.connect(self._next_turn)
        self._build()

    # -- layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        root.setSpacing(10)
        root.addLayout(self._picker())
        cards = QHBoxLayout()
        cards.setSpacing(10)
        c1, self._total, self._total_sub = _card("Media (finished, loading)")
        c2, self._unavail, self._unavail_sub = _card("Content not available")
        c3, self._proc, self._proc_sub = _card("Processing time (avg)")
        c4, self._thru, self._thru_sub = _card("Completed")
        self._thru_head = c4.findChild(QLabel)
        for c in (c1, c2, c3, c4):
            cards.addWidget(c, 1)
        root.addLayout(cards)

        self.over_time = _plot("Processing time (average per minute)", "time", "s", date_axis=True)
        self.histogram = _plot("Processing time distribution", "media", None, "processing time", "s", counts="left")
        self.status = _plot("Status breakdown", "media", counts="left")
        self.throughput = _plot("Throughput (completed per minute)", "media", date_axis=True, counts="left")
        self.reasons = _plot("Failure reasons", "", counts="bottom")
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
        self._make_items()

    def _picker(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        label = QLabel("Window")
        label.setStyleSheet(f"color: {MUTED};")
        self.window_picker = QComboBox()
        self.window_picker.setObjectName("metricsWindow")
        for key, words in METRICS_WINDOWS.items():
            self.window_picker.addItem(words[:1].upper() + words[1:], key)
        self.window_picker.setCurrentIndex(max(0, self.window_picker.findData(self._window)))
        self.window_picker.currentIndexChanged.connect(self._window_picked)
        label.setBuddy(self.window_picker)
        row.addWidget(label)
        row.addWidget(self.window_picker)
        return row

    @property
    def window(self) -> str:
        return self._window

    def _window_picked(self, index: int) -> None:
        self._window = self.window_picker.itemData(index)
        self._retitle(self._window, None)
        self.refresh()

    def _retitle(self, window: str, step_s: int | None) -> None:
        self._thru_head.setText(f"Completed ({METRICS_WINDOWS.get(window, window)})")
        if step_s is None or step_s == self._titled_step:
            return  # a new title lays the plot out again: only when it changes
        self._titled_step = step_s
        per = STEP_WORDS.get(step_s, f"{step_s} s")
        self.over_time.getPlotItem().setTitle(f"Processing time (average per {per})", color=INK, size="11pt")
        self.throughput.getPlotItem().setTitle(f"Throughput (completed per {per})", color=INK, size="11pt")

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
        provider, window = self._provider, self._window
        run_task(lambda: (window, provider(window)), self._on_metrics, self._on_error)

    def _on_metrics(self, result: tuple[str, Metrics]) -> None:
        if not shiboken6.isValid(self):  # the view was closed while the query ran
            return
        self._busy = False
        window, metrics = result
        if window != self._window:  # picked another window meanwhile: its own refresh is queued
            self._run_again()
            return
        behind = " · still counting older media: figures will grow" if metrics.catching_up else ""
        self._updated.setText(f"Updated {datetime.now():%H:%M:%S} · refreshes every {REFRESH_MS // 1000} s{behind}")
        self._draw_in_turns(metrics)
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

    # -- drawing: every plot item is made once and given new data on each refresh; building them anew
    # (clear, then add) cost more GUI-thread time than a frame per refresh.
    def _make_items(self) -> None:
        self._ot_points = Dots(4, (63, 111, 181, 110))
        self._ot_median = pg.PlotCurveItem(pen=pg.mkPen(ACCENT, width=2))
        for line in (self._ot_points, self._ot_median):
            self.over_time.getPlotItem().addItem(line)
        self._hist_bars = Bars(x0=[0], x1=[1], height=[0], brush="#90b4e0", pen=pg.mkPen("w"))
        self.histogram.getPlotItem().addItem(self._hist_bars)
        # p50's label sits right of its line, p95's left of its own (it is often the right edge of the
        # plot, where a label would be cut off), and lower, so the two never overlap.
        self._hist_lines: dict[str, Marker] = {}
        for name, color, where, side in (("p50", GOOD, 0.93, 0), ("p95", BAD, 0.75, 1)):
            line = Marker(pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine), color, position=where, side=side)
            self.histogram.getPlotItem().addItem(line)
            self._hist_lines[name] = line
        item = self.success_bar.getPlotItem()
        item.addItem(pg.BarGraphItem(x0=[0], y=[0], height=0.6, width=[100], brush="#eceff3", pen=None))
        self._success_fill = Bars(x0=[0], y=[0], height=0.6, width=[0], brush=GOOD, pen=None)
        item.addItem(self._success_fill)
        item.addItem(pg.InfiniteLine(SUCCESS_TARGET * 100, angle=90, pen=pg.mkPen(INK, width=2),
                                     label=f"target {SUCCESS_TARGET * 100:.0f}%",
                                     labelOpts={"position": 0.98, "color": INK, "anchors": [(1, 0), (1, 0)]}))
        item.setYRange(-0.5, 1.4, padding=0)  # headroom above the bar for the target label
        item.setLabel("bottom", "% of finished media loaded", color=MUTED)
        names = list(STATUS_COLORS)
        self._status_bars = Bars(x=list(range(len(names))), height=[0] * len(names), width=0.6,
                                 brushes=[STATUS_COLORS[n] for n in names], pen=None)
        item = self.status.getPlotItem()
        item.addItem(self._status_bars)
        self._status_labels = Labels(INK, (0.5, 1))
        item.addItem(self._status_labels)
        item.getAxis("bottom").setTicks([list(enumerate(names))])
        item.setXRange(-0.6, len(names) - 0.4, padding=0)
        self._thru_bars = Bars(x=[0], height=[0], width=1, brush=STATUS_COLORS["completed"], pen=None)
        self.throughput.getPlotItem().addItem(self._thru_bars)
        self._reason_bars = Bars(x0=0, y=[0], height=0.6, width=[0], brush=STATUS_COLORS["failed"], pen=None)
        self.reasons.getPlotItem().addItem(self._reason_bars)
        self._reason_labels = Labels(INK, (0, 0.5))
        self.reasons.getPlotItem().addItem(self._reason_labels)
        self._reason_ticks: list[list[tuple[int, str]]] = []
        self.reasons.getPlotItem().setLabel("bottom", "failed media", color=MUTED)
        for plot in (self.over_time, self.histogram, self.status, self.throughput, self.reasons, self.success_bar):
            _cache_texts(plot)

    def _plots(self) -> list[_Part]:
        """The parts in drawing order, the cards of key figures first. What a time plot shows includes its
        time range, which moves on with the clock even when no media finish."""
        return [
            ("cards", None, lambda m: (m.total, m.status_counts, m.unavailable_share, m.processing_avg_s,
                                       m.processing_p50_s, m.processing_p95_s, m.throughput, m.step_s),
             self._draw_cards),
            ("over_time", self.over_time, lambda m: (m.over_time, _time_range(m)), self._draw_over_time),
            ("histogram", self.histogram, lambda m: (m.histogram, m.processing_p50_s, m.processing_p95_s),
             self._draw_histogram),
            ("success", self.success_bar, lambda m: (m.success_rate, m.status_counts.get("completed", 0),
                                                     m.status_counts.get("failed", 0)), self._draw_success),
            ("status", self.status, lambda m: [m.status_counts.get(n, 0) for n in STATUS_COLORS],
             self._draw_status),
            ("throughput", self.throughput, lambda m: (m.throughput, m.step_s, m.window, _time_range(m)),
             self._draw_throughput),
            ("reasons", self.reasons, lambda m: m.failure_reasons, self._draw_reasons),
        ]

    def _start(self, m: Metrics) -> bool:
        """The cheap part of a draw; False when `m` is what is on screen already (a quiet engine)."""
        if m == self.metrics and not self._drawing:
            return False
        self.metrics = m
        self._retitle(self._window, m.step_s)
        _style(self._updated, f"color: {MUTED}; font-size: 9pt;")
        return True

    def apply(self, m: Metrics) -> None:
        """Draw `m` now, every part that changed (GUI thread only)."""
        self._drawing = False
        if self._start(m):
            self._turns = self._plots()
            while self._turns:
                self._draw_next()

    def _draw_in_turns(self, m: Metrics) -> None:
        """Draw `m` one part (the cards, a plot) per turn of the event loop, each painted in the turn after, so
        no turn holds the GUI thread for a frame (all at once cost as much in all, in one long turn; a turn of
        its own for each paint doubled the turns, and on a busy machine each turn risks the scheduler's slice);
        `refreshed` is emitted once the last is painted. A result arriving meanwhile is drawn from the part under
        way on."""
        busy = self._drawing
        if not self._start(m):
            self.refreshed.emit(m)
            return
        self._turns = self._plots()
        self._drawing = True
        if not busy:
            self._turn_timer.start()

    def _draw_next(self) -> bool:
        """Draw the next part whose figures changed, False when none is left; the ones that did not change
        are passed over (a busy engine often leaves the failure reasons as they were), with no repaint."""
        m = self.metrics
        while self._turns:
            name, plot, key, draw = self._turns.pop(0)
            shows = key(m)
            if name in self._shown and self._shown[name] == shows:
                continue
            draw(m)
            self._shown[name] = shows
            if plot is not None:
                # The new range is applied now rather than in the paint: applied there, it moves the plot's
                # items after they were painted, and Qt paints the whole plot a second time.
                plot.getPlotItem().getViewBox().prepareForPaint()
            return True
        return False

    def _next_turn(self) -> None:
        if not self._drawing:
            return
        if self._draw_next():
            self._turn_timer.start()  # painted in the next turn, with the next part drawn
            return
        self._drawing = False
        self.refreshed.emit(self.metrics)

    def _draw_cards(self, m: Metrics) -> None:
        c = m.status_counts
        self._total.setText(f"{m.total:,}")
        self._total_sub.setText(f"{c.get('completed', 0):,} shown · {c.get('failed', 0):,} failed · "
                                f"{c.get('pending', 0) + c.get('processing', 0):,} loading"
                                + (f" · {c['removed']:,} removed by retention" if c.get("removed") else ""))
        share = m.unavailable_share
        self._unavail.setText(_pct(share, 2))
        _style(self._unavail, f"color: {GOOD if share is None or share < UNAVAILABLE_TARGET else BAD};"
                              "font-size: 20pt; font-weight: 600;")
        self._unavail_sub.setText(f"target under {UNAVAILABLE_TARGET * 100:.1f}%")
        avg = m.processing_avg_s
        self._proc.setText(_secs(avg))
        _style(self._proc, f"color: {GOOD if avg is None or avg < PROCESSING_TARGET_S else BAD};"
                           "font-size: 20pt; font-weight: 600;")
        self._proc_sub.setText(f"p50 {_secs(m.processing_p50_s)} · p95 {_secs(m.processing_p95_s)} · "
                               f"target under {PROCESSING_TARGET_S:.0f} s")
        done = sum(n for _, n in m.throughput)
        self._thru.setText(f"{done:,}")
        busiest = max((n for _, n in m.throughput), default=0)
        self._thru_sub.setText(f"busiest {STEP_WORDS.get(m.step_s, 'step')}: {busiest:,} media")

    def _draw_over_time(self, m: Metrics) -> None:
        if not m.over_time:
            self._ot_points.setData([], [])
            self._ot_median.setData([], [])
            return _empty(self.over_time, x=_padded(*_time_range(m)))
        _filled(self.over_time)
        xs = [_epoch(at) for at, _ in m.over_time]
        ys = [s for _, s in m.over_time]
        self._ot_points.setData(xs, ys)
        # Single steps are noisy; a running median shows whether the pipeline is getting slower.
        self._ot_median.setData(xs, _running_median(ys, max(1, len(ys) // 40)))
        item = self.over_time.getPlotItem()
        _set_range(item, _padded(*_time_range(m)), (0, _ceiling(max(ys))))

    def _draw_histogram(self, m: Metrics) -> None:
        item = self.histogram.getPlotItem()
        if not m.histogram:
            self._hist_bars.hide()
            for line in self._hist_lines.values():
                line.hide()
            return _empty(self.histogram)
        _filled(self.histogram)
        self._hist_bars.setOpts(x0=[a for a, _, _ in m.histogram], x1=[b for _, b, _ in m.histogram],
                                height=[n for _, _, n in m.histogram])
        self._hist_bars.show()
        for name, value in (("p50", m.processing_p50_s), ("p95", m.processing_p95_s)):
            line = self._hist_lines[name]
            if line.isVisible() != (value is not None):
                line.setVisible(value is not None)
            if value is not None:
                line.setValue(value)
                line.setText(f"{name} {_secs(value)}")
        _set_range(item, _padded(0, m.histogram[-1][1]), (0, _ceiling(max(n for _, _, n in m.histogram))))

    def _draw_success(self, m: Metrics) -> None:
        rate = m.success_rate
        ok = rate is None or rate >= SUCCESS_TARGET
        self._success.setText(_pct(rate, 1))
        _style(self._success, f"color: {GOOD if ok else BAD};")
        done, failed = m.status_counts.get("completed", 0), m.status_counts.get("failed", 0)
        verdict = "on target" if rate is not None and ok else ("below target" if rate is not None else "no media yet")
        self._success_sub.setText(f"{done:,} of {done + failed:,} loaded · target {SUCCESS_TARGET * 100:.0f}%+ · "
                                  f"{verdict}")
        self._success_fill.setVisible(rate is not None)
        if rate is not None:
            self._success_fill.setOpts(width=[rate * 100], brush=GOOD if ok else BAD)
        # Zoom in when the rate is high: the gap between 97% and the 99% target must be visible.
        low = 0.0 if rate is None or rate < 0.85 else max(0.0, math.floor(rate * 20 - 1) * 5)
        if low != self._success_low:  # the same range set again still costs a relayout of the view
            self._success_low = low
            self.success_bar.getPlotItem().setXRange(low, 100, padding=0.02)

    def _draw_status(self, m: Metrics) -> None:
        item = self.status.getPlotItem()
        counts = [m.status_counts.get(n, 0) for n in STATUS_COLORS]
        self._status_bars.setOpts(height=counts)
        self._status_labels.setLabels([(i, n, f"{n:,}") for i, n in enumerate(counts)])
        item.setYRange(0, _ceiling(max(counts + [1]) * 1.1), padding=0)

    def _draw_throughput(self, m: Metrics) -> None:
        item = self.throughput.getPlotItem()
        if not m.throughput:
            self._thru_bars.hide()
            return _empty(self.throughput, f"Nothing completed ({METRICS_WINDOWS.get(m.window, m.window)})",
                          x=_padded(*_time_range(m)))
        _filled(self.throughput)
        step = m.step_s
        xs = [_epoch(at) + step / 2 for at, _ in m.throughput]  # centre each bar on its step
        self._thru_bars.setOpts(x=xs, height=[n for _, n in m.throughput], width=step * 0.83)
        self._thru_bars.show()
        _set_range(item, _padded(*_time_range(m)), (0, _ceiling(max(n for _, n in m.throughput))))

    def _draw_reasons(self, m: Metrics) -> None:
        item = self.reasons.getPlotItem()
        if not m.failure_reasons:
            self._reason_bars.hide()
            self._reason_labels.setLabels([])
            self._reason_ticks = [[]]
            item.getAxis("left").setTicks(self._reason_ticks)
            return _empty(self.reasons, "No failures")
        _filled(self.reasons)
        top = sorted(m.failure_reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_REASONS]
        top.reverse()  # the most frequent reason on top
        counts = [n for _, n in top]
        self._reason_bars.setOpts(y=list(range(len(top))), width=counts)
        self._reason_bars.show()
        self._reason_labels.setLabels([(n, i, f" {n:,}") for i, n in enumerate(counts)])
        ticks = [[(i, FailureReason.label_for(k)) for i, (k, _) in enumerate(top)]]
        if ticks != self._reason_ticks:  # new ticks lay the axis out and paint it again
            self._reason_ticks = ticks
            item.getAxis("left").setTicks(ticks)
        _set_range(item, (0, _ceiling(max(counts) * 1.1)), (-0.6, len(top) - 0.4))
