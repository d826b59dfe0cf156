"""WAL checkpoints on a thread of their own, so that no webhook waits for one."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)
INTERVAL_S = 1.0


class Checkpointer:
    """Copies the SQLite WAL into the database every second (PASSIVE: it never blocks readers or writers)."""

    def __init__(self, db_path: Path, *, interval: float = INTERVAL_S) -> None:
        self.db_path = db_path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint: SQLite's (busy, frames in the WAL, frames checkpointed), None if skipped."""
        # A fresh connection each time: after a restore replaced the file, a kept one would still point at
        # the old file. Opening SQLite costs far less than the checkpoint itself.
        try:
            conn = sqlite3.connect(self.db_path, timeout=15)
            try:
                return tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
            finally:
                conn.close()
        except sqlite3.Error as exc:  # a busy database or a restore in progress: next time
            log.debug("checkpoint skipped: %s", exc)
            return None
