"""SQLite's WAL kept off the listener's path: checkpoints on a thread of their own, so that no webhook waits
for one, and the WAL synced by a descriptor of our own (`WalSync`), so that a batch is made durable off the
event loop."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)
# POSIX syncs a descriptor opened read-only; Windows flushes only a handle it may write (FlushFileBuffers).
_OPEN_FOR_SYNC = os.O_RDWR | getattr(os, "O_BINARY", 0) if os.name == "nt" else os.O_RDONLY
INTERVAL_S = 1.0
# Under a steady stream of webhooks a PASSIVE checkpoint never catches the writer up (frames keep coming while
# it copies), so SQLite never starts the WAL over and the file grows by every commit: each sync then also writes
# the file's new size and blocks (measured: a 90 MB WAL after 8,000 webhooks, syncs 25% slower). Past this many
# frames a RESTART follows: it waits at most RESTART_WAIT_MS for the writer and readers, copies the few frames
# left, and the next commit starts at the WAL's beginning again, rewriting blocks the file already has.
RESTART_FRAMES = 1000
RESTART_WAIT_MS = 20


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
                result = tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
                if result[1] >= RESTART_FRAMES:
                    conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                    restarted = tuple(conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone())
                    if not restarted[0]:  # busy: a reader or the writer kept it; the next round tries again
                        result = restarted
                return result
            finally:
                conn.close()
        except sqlite3.Error as exc:  # a busy database or a restore in progress: next time
            log.debug("checkpoint skipped: %s", exc)
            return None


class WalSync:
    """fdatasync of an SQLite database's WAL file through a descriptor of our own.

    For a connection that commits with synchronous=NORMAL (SQLite writes the frames, does not sync them): after
    `sync()` returns, every transaction committed before it was called is on stable storage. Linux syncs an
    inode whichever descriptor asks, so this can run on another thread while the connection goes on writing.
    The descriptor is kept (a stat per sync costs the syncing thread one more wait for the GIL): SQLite removes
    the WAL only when the last connection closes, and the owner calls `close()` whenever it closes its own.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + "-wal")
        self._fd: int | None = None
        self._lock = threading.Lock()

    def sync(self) -> None:
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.path, _OPEN_FOR_SYNC)
                except FileNotFoundError:
                    return  # no WAL: SQLite checkpointed it into the database, with a sync, and removed it
            _datasync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def sync_wal_once(db_path: Path) -> None:
    """fdatasync of the database's WAL through a descriptor opened for this sync only: every transaction
    committed before the call is then on stable storage. Opened afresh each time, so a WAL that SQLite removed
    and made again meanwhile is the one synced; one that is gone was checkpointed into the database, synced."""
    try:
        fd = os.open(str(db_path) + "-wal", _OPEN_FOR_SYNC)
    except FileNotFoundError:
        return
    try:
        _datasync(fd)
    finally:
        os.close(fd)


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", None) or os.fsync  # macOS and Windows have no fdatasync: a full fsync there
    sync(fd)
