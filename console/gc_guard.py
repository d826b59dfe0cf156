"""Garbage collection on the GUI thread only.

Python's cyclic collector runs on whichever thread happens to allocate; if it frees a Qt wrapper there
(a worker thread, a Huey worker, the listener), Qt's destructor runs off the GUI thread and can crash.
Like qutebrowser, we turn automatic collection off and collect from a timer on the GUI thread.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

# Young collections often: each costs what survived since the one before (a second of scrolling's new rows and
# cached cells took 2-6 ms, a dropped frame when it met a step), a tenth of that every 100 ms.
YOUNG_EVERY_MS = 100
FULL_EVERY_S = 60.0
REST_S = 1.5  # a full collection waits until no view has scrolled for this long
MAX_WAIT_S = 300.0  # ... but never longer than this: garbage must not pile up under a scroll that never rests

_busy_until = 0.0


def scrolled() -> None:
    """A view is scrolling: a full collection now (tens of ms with large caches) would be a dropped frame, so
    it waits until the view rests. Young collections go on (well under a millisecond each, every 100 ms)."""
    global _busy_until
    _busy_until = time.monotonic() + REST_S


class GuiThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._full_at = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(YOUNG_EVERY_MS)
        self._timer.timeout.connect(self._collect)

    def start(self) -> None:
        gc.disable()
        # What start-up built (modules, Qt wrappers, the engine) lives as long as the app: moving it out of
        # the collector's reach keeps the periodic full collections short (50-80 ms -> a few ms).
        gc.freeze()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.unfreeze()
        gc.enable()

    def _collect(self) -> None:
        now = time.monotonic()
        due = now - self._full_at >= FULL_EVERY_S
        if due and (now >= _busy_until or now - self._full_at >= MAX_WAIT_S):
            self._full_at = now
            gc.collect(2)
        else:
            gc.collect(0)
