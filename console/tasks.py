"""Background work for the GUI, Picard-style: one thread pool, one helper.

`run_task(work, on_done, on_error)` runs `work()` on a pool thread; its result (or exception) comes
back to `on_done` / `on_error` on the GUI thread, the only place that changes state. Work is a pure
function of ids and plain values: it never touches a widget, the callbacks never block.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

Work = Callable[[], Any]
Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class _Dispatcher(QObject):
    """Lives on the GUI thread and runs finished tasks' callbacks there.

    Results travel in a plain thread-safe queue and the signal carries nothing: no Python object is
    ever marshalled through a queued Qt connection (PySide on Python 3.11 has miscounted references
    to objects passed that way, None included, which ends in a crash far from the cause).
    """

    wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._results: SimpleQueue[tuple[Callable[[Any], None] | None, Any]] = SimpleQueue()
        self.wake.connect(self._drain)

    def post(self, callback: Callable[[Any], None] | None, value: Any) -> None:
        self._results.put((callback, value))
        self.wake.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            try:
                callback, value = self._results.get_nowait()
            except Empty:
                return
            if callback is not None:
                try:
                    callback(value)
                except Exception:  # a bug in a callback must not stop the others from running
                    log.exception("a background task's callback failed")


class _Task(QRunnable):
    def __init__(self, work: Work, on_done: Done | None, on_error: Failed | None, dispatcher: _Dispatcher) -> None:
        super().__init__()
        self.work, self.on_done, self.on_error, self.dispatcher = work, on_done, on_error, dispatcher

    def run(self) -> None:
        try:
            result = self.work()
        except BaseException as exc:  # handed to the GUI thread: reported there, never lost
            if self.on_error is None:
                log.error("background task %r failed", self.work, exc_info=exc)
            self.dispatcher.post(self.on_error, exc)
        else:
            self.dispatcher.post(self.on_done, result)


_pool: QThreadPool | None = None
_dispatcher: _Dispatcher | None = None
_lock = threading.Lock()


def pool() -> QThreadPool:
    """The console's one pool; a few threads so a slow query never starves thumbnails."""
    global _pool, _dispatcher
    with _lock:
        if _pool is None:
            _pool = QThreadPool()
            _pool.setMaxThreadCount(4)
            _pool.setExpiryTimeout(2000)
            _dispatcher = _Dispatcher()
        return _pool


def run_task(work: Work, on_done: Done | None = None, on_error: Failed | None = None) -> None:
    """Run `work()` off the GUI thread; call `on_done(result)` or `on_error(exc)` back on it."""
    p = pool()
    p.start(_Task(work, on_done, on_error, _dispatcher))


def weak_callback(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """`method` as a callback that does not keep its widget alive.

    A finished task is dropped on its pool thread: a widget whose last reference were that task's callback
    would be destroyed off the GUI thread (a crash). Once the widget is gone, the callback does nothing.
    """
    ref = weakref.WeakMethod(method)

    def call(value: Any) -> None:
        bound = ref()
        if bound is not None:
            bound(value)

    return call


def wait_for_tasks(timeout_ms: int = 30_000) -> bool:
    """Block until every started task has returned (shutdown, tests); callbacks still need the event loop."""
    return pool().waitForDone(timeout_ms)
