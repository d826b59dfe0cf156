"""Progress of a long task on a pool thread, read by the GUI thread, with a Cancel the task obeys.

The engine's `progress(done, total)` callbacks run on the worker thread; they only store two numbers under
a lock (and raise `Cancelled` once the user asked), and a timer on the GUI thread puts them on a progress
bar. Nothing crosses threads through a queued Qt connection, and no widget is touched off the GUI thread.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QProgressBar


class Cancelled(Exception):
    """The user pressed Cancel; the task stops at its next progress call."""


class TaskProgress(QObject):
    """`report(done, total)` is the engine's progress callback (any thread); `bar` follows it on the GUI thread."""

    def __init__(self, bar: QProgressBar, parent: Any = None, *, every_ms: int = 100) -> None:
        super().__init__(parent)
        self.bar = bar
        self._lock = threading.Lock()
        self._done, self._total = 0, 0
        self._cancel = threading.Event()
        self._timer = QTimer(self, interval=every_ms)
        self._timer.timeout.connect(self._show)

    def start(self, total: int = 0) -> None:
        with self._lock:
            self._done, self._total = 0, total
        self._cancel.clear()
        self.bar.setRange(0, max(total, 0))
        self.bar.setValue(0)
        self.bar.show()
        self._timer.start()

    def report(self, done: int, total: int) -> None:
        with self._lock:
            self._done, self._total = done, total
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def finish(self) -> None:
        self._timer.stop()
        self._show()
        self.bar.hide()

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self._done, self._total

    def _show(self) -> None:
        done, total = self.snapshot()
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        else:
            self.bar.setRange(0, 0)  # busy: the total is not known yet
