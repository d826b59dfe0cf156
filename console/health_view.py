"""The media health check's findings (SPEC section 5), with "Run check now" and a signal when it turns.

The check reads the database and stats up to 5,000 stored files, so it always runs off the GUI thread.
Reports also arrive from the engine's periodic check through the bridge: the window connects the bridge's
`health_changed` to `on_health_changed`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.rows_model import Index, RowsModel
from console.tasks import run_task
from console.wording import local_time
from engine import Finding, HealthChanged, HealthReport, MediaDeskError

log = logging.getLogger(__name__)
GOOD, BAD, MUTED = "#2e7d32", "#c62828", "#666666"


class FindingsModel(RowsModel[Finding]):
    """A thin read-only adapter over the last report's findings."""

    HEADERS = ("", "Check", "Value", "Detail")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = parent.style() if parent is not None else None
        self._icons = {
            True: style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton) if style else None,
            False: style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning) if style else None,
        }

    set_findings = RowsModel.set_rows

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        f = self.cell_row(index)
        if f is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return ("OK" if f.ok else "Problem", f.name, "" if f.value is None else str(f.value), f.detail)[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self._icons[f.ok]
        if role == Qt.ItemDataRole.ForegroundRole and col in (0, 1):
            return QColor(GOOD if f.ok else BAD)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f.detail
        return None


def summarize(report: HealthReport) -> str:
    """One line for a notification or the status bar."""
    bad = [f for f in report.findings if not f.ok]
    if not bad:
        return f"All {len(report.findings)} health checks passed"
    return "; ".join(f"{f.name}: {f.detail}" for f in bad)


class HealthView(QWidget):
    """Findings of the last health check; `healthChanged(ok, summary)` fires when the verdict turns."""

    healthChanged = Signal(bool, str)
    reportShown = Signal(object)  # the HealthReport now on screen

    def __init__(self, engine: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._engine = engine
        self._ok: bool | None = None
        self.report: HealthReport | None = None
        self._running = False

        self._verdict = QLabel("No health check yet")
        self._verdict.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self._checked = QLabel("")
        self._checked.setStyleSheet(f"color: {MUTED};")
        self.run_button = QPushButton("Run check now")
        self.run_button.clicked.connect(self.run_check)
        self._outcome = QLabel("")
        self._outcome.setWordWrap(True)

        self.model = FindingsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionMode(QTableView.SelectionMode.NoSelection)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        head = QHBoxLayout()
        text = QVBoxLayout()
        text.addWidget(self._verdict)
        text.addWidget(self._checked)
        head.addLayout(text, 1)
        button_col = QVBoxLayout()
        button_col.addWidget(self.run_button)
        head.addLayout(button_col)
        root = QVBoxLayout(self)
        root.addLayout(head)
        root.addWidget(self._outcome)
        root.addWidget(self.table, 1)
        self._load_last()

    def _load_last(self) -> None:
        """Show the stored report from the last run (maybe by `mediadesk serve`) until a new one comes."""
        library = self._engine.library
        if library is None:
            return
        run_task(library.last_health_report, self._on_last, self._on_error)

    def _on_last(self, report: HealthReport | None) -> None:
        if shiboken6.isValid(self) and report is not None and self.report is None:
            self.show_report(report)

    def on_health_changed(self, event: HealthChanged) -> None:
        """A check ran elsewhere (the engine's periodic one, `mediadesk health`): show its report."""
        if shiboken6.isValid(self):
            self.show_report(event.report)

    def run_check(self) -> None:
        if self._running:
            return
        self._running = True
        self.run_button.setEnabled(False)
        self._outcome.setStyleSheet(f"color: {MUTED};")
        self._outcome.setText("Checking media, files, queue and workers…")
        run_task(self._engine.health_check, self._on_checked, self._on_error)

    def _on_checked(self, report: HealthReport) -> None:
        if not shiboken6.isValid(self):  # closed while the check ran
            return
        self._finish_run("")
        self.show_report(report)

    def _on_error(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        if not isinstance(exc, MediaDeskError):
            log.error("the health check failed", exc_info=exc)
        self._finish_run(f"The health check could not run: {exc}")
        self._outcome.setStyleSheet(f"color: {BAD};")

    def _finish_run(self, message: str) -> None:
        self._running = False
        self.run_button.setEnabled(True)
        self._outcome.setText(message)

    def show_report(self, report: HealthReport) -> None:
        """Show `report` (GUI thread); emits healthChanged when the verdict differs from the last one."""
        self.report = report
        self.model.set_findings(report.findings)
        bad = sum(not f.ok for f in report.findings)
        if report.ok:
            self._verdict.setText("✔ Healthy: every check passed")
        else:
            self._verdict.setText(f"✖ Needs attention: {bad} problem{'s' if bad != 1 else ''}")
        self._verdict.setStyleSheet(f"font-size: 16pt; font-weight: 600; color: {GOOD if report.ok else BAD};")
        checked = local_time(datetime.fromisoformat(report.checked_at))
        self._checked.setText(f"Checked {checked:%Y-%m-%d %H:%M:%S}")  # local time, as everywhere in the console
        self.table.resizeRowsToContents()
        self.reportShown.emit(report)
        if report.ok != self._ok:
            self._ok = report.ok
            self.healthChanged.emit(report.ok, summarize(report))
