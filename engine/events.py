"""Engine events: what the console (or anyone) subscribes to. Callbacks run on the emitting thread.

Subscribers must be quick and thread-safe; the console's bridge only re-emits them as Qt signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaStatusChanged:
    media_id: int
    status: str
    error: str | None = None
    reason: str | None = None
    bytes_done: int | None = None  # progress while downloading a large file
    bytes_total: int | None = None


@dataclass(frozen=True)
class MessagesStored:
    messages: int
    statuses: int
    media_ids: tuple[int, ...]


@dataclass(frozen=True)
class HealthChanged:
    ok: bool
    report: Any  # engine.health.HealthReport


@dataclass(frozen=True)
class MaintenanceChanged:
    """The engine entered or left maintenance (schema) or a write refusal (disk full, database unavailable)."""

    state: Any  # engine.maintenance.MaintenanceState


Event = MediaStatusChanged | MessagesStored | HealthChanged | MaintenanceChanged


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for cb in subscribers:
            try:
                cb(event)
            except Exception:
                log.exception("an event subscriber failed on %s", type(event).__name__)
