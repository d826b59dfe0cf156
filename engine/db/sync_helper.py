"""The listener's WAL syncs in a small forked process of their own, asked and answered through two pipes.

A group commit must be synced before its webhooks are answered, and the sync should not stop the event loop
that parses and commits the next batch. A thread of ours can wait on the disk with the GIL released, but every
sync then costs two thread hand-offs inside one interpreter (waking the thread, and the thread taking the GIL
back to wake the loop), and on a busy two-core machine those cost the listener more than the disk does
(measured in `bench ingest`). A forked helper has no GIL to share: the loop writes one byte into a pipe, the
helper runs fdatasync on the WAL (Linux syncs an inode whichever process asks) and writes one byte back, and
the loop reads it as one more ready descriptor among its sockets.

The helper closes every descriptor it inherited but its two pipes at once, so it never holds the listener's
socket, a lease lock or a database file open; it exits when its request pipe closes (the writer closed, or
the listener's process died). Platforms without `os.fork` keep the thread (engine.listener.writer).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

SYNC = b"s"
FORGET = b"c"  # close the WAL's descriptor: SQLite may remove the file (the store closed its connection)
OK = 0


def can_fork() -> bool:
    return hasattr(os, "fork") and hasattr(os, "fdatasync")


class SyncHelper:
    """One forked process that syncs one WAL file on request; `fileno()` is the answers' pipe, for a selector.

    Not thread-safe: the writer's event loop makes every call."""

    def __init__(self, wal: Path) -> None:
        self.wal = wal
        requests_r, self._requests = os.pipe()
        self._answers, answers_w = os.pipe()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns on fork in a process with threads; the child only runs os-level calls.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.pid = os.fork()
        except OSError:
            for fd in (requests_r, self._requests, self._answers, answers_w):
                os.close(fd)
            raise
        if self.pid == 0:  # the helper: nothing of the parent's Python state is used from here on
            _serve(requests_r, answers_w, str(wal))
        os.close(requests_r)
        os.close(answers_w)
        os.set_blocking(self._answers, False)
        self.closed = False

    def fileno(self) -> int:
        return self._answers

    def request(self) -> None:
        """Ask for one sync; its answer arrives on `fileno()` (read them with `answers()`)."""
        self._send(SYNC)

    def forget(self) -> None:
        """Let go of the WAL's descriptor (reopened at the next sync): the database may remove or replace it."""
        self._send(FORGET)

    def answers(self) -> list[OSError | None]:
        """The answers that arrived, oldest first: None for a sync done, an OSError for a sync that failed.
        An empty list with `closed` set: the helper is gone (every sync still asked for failed)."""
        try:
            data = os.read(self._answers, 4096)
        except BlockingIOError:
            return []
        except OSError as exc:
            data, err = b"", exc
            log.warning("the WAL sync helper's answers could not be read: %s", err)
        if not data:
            self.closed = True
            return []
        return [None if code == OK else OSError(code, os.strerror(code)) for code in data]

    def close(self) -> None:
        """End the helper (it exits at the end of its request pipe) and reap it."""
        if self.pid <= 0:
            return
        for fd in (self._requests, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        pid, self.pid = self.pid, -1
        self.closed = True
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:  # still inside a sync (a slow disk): reap it when it is done, never wait on the loop
            threading.Thread(target=_reap, args=(pid,), name="mediadesk-sync-reaper", daemon=True).start()

    def _send(self, what: bytes) -> None:
        try:
            os.write(self._requests, what)
        except OSError as exc:  # BrokenPipeError: it died
            self.closed = True
            raise OSError(errno.EIO, f"the WAL sync helper is gone ({exc.strerror or exc})") from exc


def _serve(requests: int, answers: int, wal: str) -> None:
    """The helper's whole life: read a request, sync, answer; exit when the requests end."""
    code = 1
    try:
        # Keep nothing of the parent's open: its listening socket, a lease's lock, its database files.
        keep = sorted((requests, answers))
        os.closerange(0, keep[0])
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, _max_fd())
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C reaches the whole group: the parent decides
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        fd = -1
        while True:
            asked = os.read(requests, 64)
            if not asked:
                code = 0
                break
            for what in asked:
                if what == FORGET[0]:
                    if fd >= 0:
                        os.close(fd)
                        fd = -1
                    continue
                try:
                    if fd < 0:
                        fd = os.open(wal, os.O_RDONLY)  # a sync needs no write access
                    os.fdatasync(fd)
                    answer = OK
                except FileNotFoundError:
                    answer = OK  # no WAL: SQLite checkpointed it into the database, with a sync, and removed it
                except OSError as exc:
                    answer = (exc.errno or errno.EIO) & 0xFF or errno.EIO
                os.write(answers, bytes((answer,)))
    except BaseException:  # noqa: BLE001 - nothing here may run the parent's handlers or atexit
        code = 1
    finally:
        os._exit(code)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 16)
    except (ValueError, OSError):
        return 4096
