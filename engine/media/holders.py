"""Who is downloading a media right now, so that a start-up reconciler frees only what a dead process left.

Several processes may share one queue and one database (`mediadesk serve` plus `mediadesk worker`s, on one
machine over SQLite, or on several over Redis). A claim records its holder (host, pid) and a lease; a
`processing` row is free again when its holder is a process of this host that no longer runs, or, on
another host, when its lease has run out (an attempt cannot outlive it: downloads stop at their timeout).
"""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from engine.storage import TEMP_SUFFIX

HOST = socket.gethostname()
LEASE_MARGIN = timedelta(minutes=2)  # the Graph call's own timeouts, plus slack for a slow disk
_TEMP_PID = re.compile(r"\.p(\d+)\.[0-9a-f]+" + re.escape(TEMP_SUFFIX) + "$")


def holder(now: datetime, download_timeout: float) -> dict[str, Any]:
    """What a claim writes into the row's metadata as `holder`."""
    lease = now + timedelta(seconds=download_timeout) + LEASE_MARGIN
    return {"host": HOST, "pid": os.getpid(), "lease_until": lease.isoformat()}


def _gone(pid: int) -> bool:
    # Our own pid cannot hold anything yet when we reconcile at start: a row naming it comes from an earlier
    # process that had the same pid (pids are reused, in containers all the time).
    return pid == os.getpid() or not psutil.pid_exists(pid)


def holder_is_gone(meta: dict[str, Any] | None, now: datetime) -> bool:
    """True when nobody can still be working on a `processing` row with this metadata."""
    held = (meta or {}).get("holder")
    if not isinstance(held, dict):
        return True  # claimed before holders were recorded
    try:
        if held.get("host") == HOST:
            return _gone(int(held["pid"]))
        return datetime.fromisoformat(str(held["lease_until"])) <= now
    except (KeyError, TypeError, ValueError):
        return True


def lease_has_run_out(meta: dict[str, Any] | None, now: datetime) -> bool:
    """True when a `processing` row's recorded lease is over, whoever holds it (this process included: an
    attempt cannot outlive its lease, so a claim still held past it is one whose end was never recorded).
    A row with no readable lease is left to the start-up reconciler, which knows more about it."""
    held = (meta or {}).get("holder")
    if not isinstance(held, dict):
        return False
    try:
        return datetime.fromisoformat(str(held["lease_until"])) <= now
    except (KeyError, TypeError, ValueError):
        return False


def temp_name(final_name: str, token: str) -> str:
    """A temporary file's name that says which process writes it."""
    return f".{final_name}.p{os.getpid()}.{token}{TEMP_SUFFIX}"


def temp_file_is_orphaned(path: Path) -> bool:
    """A temporary file whose writer (a process of this machine) has gone; unknown names count as orphaned."""
    match = _TEMP_PID.search(path.name)
    return match is None or _gone(int(match.group(1)))
