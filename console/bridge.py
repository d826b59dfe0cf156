"""The one place where engine events enter Qt: re-emitted as signals, delivered on the GUI thread.

Engine callbacks run on listener and worker threads. Emitting a signal of a QObject that lives on the
GUI thread from there queues the call, so every receiver runs on the GUI thread and may touch widgets.

Its other half is the console talking to the user: `info`, `warning` and `error` (called on the GUI thread,
e.g. from a task's error callback) reach the window, which shows them in the status bar, errors also in the
banner; no part of the console writes to those widgets itself.
"""

from __future__ import annotations

from queue import Empty, SimpleQueue

from PySide6.QtCore import QObject, Signal, Slot

from engine import EventBus, HealthChanged, MaintenanceChanged, MediaStatusChanged, MessagesStored


class EngineBridge(QObject):
    media_status_changed = Signal(object)  # MediaStatusChanged
    messages_stored = Signal(object)  # MessagesStored
    health_changed = Signal(object)  # HealthChanged
    maintenance_changed = Signal(object)  # MaintenanceChanged
    message = Signal(str, str)  # (level: info | warning | error, text): the core talking to the user
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = None
        # Events wait in a plain queue; the queued signal only wakes the GUI thread, which re-emits them
        # there. No Python object crosses threads inside a Qt signal (see console.tasks).
        self._events: SimpleQueue[object] = SimpleQueue()
        self._wake.connect(self._drain)

    def attach(self, events: EventBus) -> None:
        self.detach()
        self._unsubscribe = events.subscribe(self._on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: object) -> None:
        # Runs on an engine thread: only queue and wake, never touch Qt objects' state here.
        self._events.put(event)
        self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except Empty:
                return
            self._dispatch(event)

    def _dispatch(self, event: object) -> None:
        if isinstance(event, MediaStatusChanged):
            self.media_status_changed.emit(event)
        elif isinstance(event, MessagesStored):
            self.messages_stored.emit(event)
        elif isinstance(event, HealthChanged):
            self.health_changed.emit(event)
        elif isinstance(event, MaintenanceChanged):
            self.maintenance_changed.emit(event)

    def info(self, text: str) -> None:
        self.message.emit("info", text)

    def warning(self, text: str) -> None:
        self.message.emit("warning", text)

    def error(self, text: str) -> None:
        self.message.emit("error", text)
