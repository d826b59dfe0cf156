"""The status bar: listener address, queue length, workers, last health check, refreshed off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from console.tasks import run_task
from console.wording import clock
from engine import describe_backend


@dataclass(frozen=True)
class EngineStatus:
    listener: str | None
    queue_length: int
    workers_alive: int
    workers_paused: bool
    health_ok: bool | None
    health_at: datetime | None  # naive UTC, as the engine stores times
    health_problems: int
    backend: str | None = None  # the shared backend this console is attached to


def read_status(engine: Any) -> EngineStatus:
    """Runs on a pool thread: each figure is a small read (Huey's SQLite queue, one settings row)."""
    library = engine.library
    report = library.last_health_report() if library is not None else None
    return EngineStatus(
        listener=engine.listener.address if engine.listener else None,
        queue_length=engine.queue_length() if engine.queue else 0,
        # Attached, the workers that matter are those of every process on the backend (by their heartbeats).
        workers_alive=(engine.queue.workers_alive_everywhere() if engine.cfg.attached else engine.workers_alive())
        if engine.queue else 0,
        workers_paused=engine.workers_paused if engine.queue else False,
        health_ok=report.ok if report else None,
        health_at=datetime.fromisoformat(report.checked_at) if report else None,
        health_problems=sum(1 for f in report.findings if not f.ok) if report else 0,
        backend=describe_backend(engine.cfg) if engine.cfg.attached else None,
    )


class EngineStatusBar(QStatusBar):
    read = Signal(object)  # each EngineStatus shown: the window keeps Queue > Pause in step with it

    def __init__(self, engine: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)  # indeterminate: maintenance runs in the background
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.busy.hide()
        self.listener = QLabel("Starting…", self)
        self.queue = QLabel(self)
        self.workers = QLabel(self)
        self.health = QLabel(self)
        self.addPermanentWidget(self.busy)
        for label in (self.listener, self.queue, self.workers, self.health):
            label.setContentsMargins(8, 0, 8, 0)
            self.addPermanentWidget(label)
        self.last: EngineStatus | None = None
        self._reading = False
        self._timer = QTimer(self, interval=2000)
        self._timer.timeout.connect(self.refresh)

    def start(self) -> None:
        self.refresh()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def refresh(self) -> None:
        if self._reading or self.engine.library is None:
            return
        self._reading = True
        engine = self.engine
        run_task(lambda: read_status(engine), self._show, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._reading = False
        self.health.setText(f"Status unavailable: {exc}")

    def _show(self, st: EngineStatus) -> None:
        self._reading = False
        self.last = st
        self.read.emit(st)
        self.listener.setText(f"Attached to {st.backend}" if st.backend else f"Listening on {st.listener}/webhook"
                              if st.listener else "Listener off")
        self.queue.setText(f"Queue: {st.queue_length}")
        self.workers.setText("Workers: paused" if st.workers_paused else f"Workers: {st.workers_alive} alive")
        self.workers.setStyleSheet("color: #b26a00" if st.workers_paused or not st.workers_alive else "")
        if st.health_ok is None:
            self.health.setText("Health: not checked yet")
            self.health.setStyleSheet("")
        else:
            at = clock(st.health_at)  # local time, like every other time the console shows
            words = "OK" if st.health_ok else f"{st.health_problems} problem(s)"
            self.health.setText(f"Health: {words} at {at}")
            self.health.setStyleSheet("" if st.health_ok else "color: #ea0038; font-weight: bold")

    def set_busy(self, text: str | None) -> None:
        self.busy.setVisible(text is not None)
        if text:
            self.showMessage(text)
        else:
            self.clearMessage()
