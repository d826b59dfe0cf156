"""How much, where: the engine's StorageUsage drawn beside the health charts (by type, by month, by workspace).

Counting storage stats every stored file, so it runs off the GUI thread, less often than the metrics, and
only while shown; a file several media share is counted once (the engine's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from console.tasks import run_task, weak_callback
from console.wording import human_size
from engine import StorageUsage, UsageSlice

REFRESH_MS = 60_000
LOCAL, S3, INK, MUTED, BAD = "#3f6fb5", "#f0a030", "#222222", "#666666", "#c62828"
LOW_DISK = 0.10  # under this share free, the disk figure turns red
MAX_MONTHS = 12
MAX_LABELS = 6  # bar names a third of the charts' width holds side by side
TYPE_LABELS = {"image": "Photos", "video": "Videos", "audio": "Audio", "document": "Documents", "sticker": "Stickers"}


def _unit(largest: int) -> tuple[float, str]:
    for factor, name in ((1024 ** 3, "GB"), (1024 ** 2, "MB"), (1024, "KB")):
        if largest >= factor:
            return float(factor), name
    return 1.0, "B"


def _month_label(key: str) -> str:
    try:
        return datetime.strptime(key, "%Y-%m").strftime("%b %Y")  # "Dec 26" would read as a day
    except ValueError:
        return key


def _bars(title: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    item = w.getPlotItem()
    item.setTitle(title, color=INK, size="11pt")
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(x=False, y=False)
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen("#999999"))
        ax.setTextPen(pg.mkPen(INK))
    item.getAxis("left").setWidth(52)  # room for "600" and its unit side by side, whatever the figures
    item.showGrid(x=False, y=True, alpha=0.15)
    w.setMinimumSize(240, 150)
    return w


class StorageUsageChart(QFrame):
    """Storage by type, by month and by workspace (local and S3 stacked), and the free space on the data disk."""

    refreshed = Signal(object)  # the StorageUsage just drawn
    failed = Signal(str)

    def __init__(self, usage_provider: Callable[[], StorageUsage], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._provider = usage_provider
        self._busy = False
        self.usage: StorageUsage | None = None
        self.setObjectName("card")
        self.setMaximumHeight(300)  # beside the health charts, not in their place
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        root = QVBoxLayout(self)
        root.setContentsMargins(14, 8, 14, 8)
        head = QHBoxLayout()
        title = QLabel("Storage")
        title.setStyleSheet(f"color: {INK}; font-size: 11pt; font-weight: 600;")
        self.summary = QLabel("Counting the stored files…")
        self.summary.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        self.disk = QLabel("")
        self.disk.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        self.disk.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(title)
        head.addSpacing(12)
        head.addWidget(self.summary, 1)
        root.addLayout(head)
        plots = QHBoxLayout()
        self.by_type = _bars("By type")
        self.by_month = _bars("By month received")
        self.by_workspace = _bars("By workspace")
        for w in (self.by_type, self.by_month, self.by_workspace):
            plots.addWidget(w, 1)
        root.addLayout(plots, 1)
        legend = QLabel(f'<span style="color:{LOCAL}">■</span> on this computer &nbsp; '
                        f'<span style="color:{S3}">■</span> on S3')
        legend.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        foot = QHBoxLayout()
        foot.addWidget(legend)
        foot.addWidget(self.disk, 1)
        root.addLayout(foot)

    # -- live updates
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._timer.start()
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        """Count off the GUI thread; one count at a time (a refresh asked meanwhile is dropped: a minute is fine)."""
        if self._busy:
            return
        self._busy = True
        run_task(self._provider, weak_callback(self._on_usage), weak_callback(self._on_error))

    def _on_usage(self, usage: StorageUsage) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.apply(usage)
        self.refreshed.emit(usage)

    def _on_error(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.summary.setText(f"Could not count the stored files: {exc}")
        self.summary.setStyleSheet(f"color: {BAD}; font-size: 9pt;")
        self.failed.emit(str(exc))

    # -- drawing (GUI thread only)
    def apply(self, u: StorageUsage) -> None:
        self.usage = u
        self.summary.setStyleSheet(f"color: {MUTED}; font-size: 9pt;")
        files = f"{u.files:,} file" + ("" if u.files == 1 else "s")
        saved = f" · {human_size(u.saved_bytes)} saved by sharing identical files" if u.saved_bytes > 0 else ""
        self.summary.setText(f"{human_size(u.local_bytes) or '0 B'} on this computer · "
                             f"{human_size(u.s3_bytes) or '0 B'} on S3 · {files}{saved}")
        if u.disk_free is not None and u.disk_total:
            low = u.disk_free / u.disk_total < LOW_DISK
            self.disk.setText(f"{human_size(u.disk_free)} free of {human_size(u.disk_total)} on the data folder's disk")
            self.disk.setStyleSheet(f"color: {BAD if low else MUTED}; font-size: 9pt;"
                                    + (" font-weight: 600;" if low else ""))
        else:
            self.disk.setText("free space on the data folder's disk: unknown")
        types = {TYPE_LABELS.get(k, k.capitalize()): v for k, v in u.by_type.items()}
        months = dict(sorted(u.by_month.items())[-MAX_MONTHS:])  # the last year; older months add little to read
        self._draw(self.by_type, types)
        self._draw(self.by_month, {_month_label(k): v for k, v in months.items()}, max_labels=4)
        self._draw(self.by_workspace, u.by_workspace)

    def _draw(self, plot: pg.PlotWidget, groups: dict[str, UsageSlice], *, max_labels: int = MAX_LABELS) -> None:
        item = plot.getPlotItem()
        item.clear()
        if not groups:
            label = pg.TextItem("Nothing stored yet", color=MUTED, anchor=(0.5, 0.5))
            item.addItem(label)
            label.setPos(0.5, 0.5)
            item.getAxis("bottom").setTicks([[]])
            item.getAxis("left").setTicks([[]])
            item.setLabel("left", "")
            item.setXRange(0, 1)
            item.setYRange(0, 1)
            return
        names = list(groups)
        factor, unit = _unit(max(g.bytes for g in groups.values()))
        local = [groups[n].local_bytes / factor for n in names]
        s3 = [groups[n].s3_bytes / factor for n in names]
        xs = list(range(len(names)))
        item.addItem(pg.BarGraphItem(x=xs, height=local, width=0.6, brush=LOCAL, pen=None))
        item.addItem(pg.BarGraphItem(x=xs, y0=local, height=s3, width=0.6, brush=S3, pen=None))
        top = max(a + b for a, b in zip(local, s3, strict=True))
        crowded = len(names) > max_labels
        if not crowded:  # a figure on each of a dozen narrow bars runs into its neighbours
            for x, a, b in zip(xs, local, s3, strict=True):
                text = pg.TextItem(f"{a + b:.1f}" if a + b < 100 else f"{a + b:.0f}", color=INK, anchor=(0.5, 1))
                text.setPos(x, a + b)
                item.addItem(text)
        step = -(-len(names) // max_labels)  # every name when they fit, else every 2nd or 3rd, the newest named
        last = len(names) - 1
        item.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(names) if (last - i) % step == 0],
                                         [(i, "") for i in xs]])
        item.getAxis("left").setTicks(None)
        item.setLabel("left", unit, color=MUTED)
        item.setXRange(-0.6, len(names) - 0.4, padding=0)
        item.setYRange(0, (top or 1) * 1.2, padding=0)
