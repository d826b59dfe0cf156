"""Which download workers are alive across every process sharing the queue, for /metrics.

Each consumer writes a small heartbeat into the queue's own key-value store every few seconds (SQLite, PostgreSQL
and Redis all have one, and every process sharing the queue reads the same store); a heartbeat older than
FRESH_S is a process that is gone, however it went. A `mediadesk worker` has no HTTP port of its own: this is
how a listener's /metrics can count its threads.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from huey.api import Huey

log = logging.getLogger(__name__)

INTERVAL_S = 5.0
FRESH_S = 15.0
_PREFIX = "mediadesk.workers."


class WorkerHeartbeat:
    def __init__(self, huey: Huey, count: Callable[[], int], *, interval: float = INTERVAL_S) -> None:
        self.huey = huey
        self.count = count
        self.interval = interval
        self.key = f"{_PREFIX}{socket.gethostname()}.{os.getpid()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-heartbeat", daemon=True)

    def start(self) -> WorkerHeartbeat:
        self._thread.start()
        return self

    def beat(self) -> None:
        value = json.dumps({"workers": self.count(), "at": time.time()}).encode()
        self.huey.storage.put_data(self.key, value)

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # the queue's server is away: the next beat tries again
                log.debug("heartbeat not written: %s", exc)
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.huey.storage.delete_data(self.key)  # gone at once, not FRESH_S later
        except Exception as exc:
            log.debug("heartbeat not removed: %s", exc)


def workers_alive(huey: Huey, *, now: float | None = None) -> int:
    """Worker threads alive in every process on this queue, by their heartbeats."""
    now = time.time() if now is None else now
    total = 0
    host = socket.gethostname()
    for key, value in huey.storage.result_items().items():
        key = key.decode() if isinstance(key, bytes) else str(key)
        if not key.startswith(_PREFIX):
            continue
        beat_host, _, pid = key[len(_PREFIX):].rpartition(".")
        if beat_host == host and pid.isdigit() and not _running(int(pid)):
            continue  # a process of this machine that died (kill -9) less than FRESH_S ago
        try:
            beat = json.loads(value)
            if now - float(beat["at"]) <= FRESH_S:
                total += int(beat["workers"])
        except (ValueError, KeyError, TypeError):
            continue
    return total


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists
        return True
    return True
