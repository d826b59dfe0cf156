"""Start-up reconciliation: Huey delivers at most once, so the database decides what still needs work."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from engine.db.models import utcnow
from engine.db.session import Database
from engine.events import EventBus
from engine.media.holders import holder_is_gone, temp_file_is_orphaned
from engine.media.state import MediaStates
from engine.storage import TEMP_SUFFIX

log = logging.getLogger(__name__)


def remove_stale_temp_files(data_dir: Path) -> int:
    """Delete half-downloaded files a crash left behind (never those a live worker is writing);
    no row ever refers to one."""
    n = 0
    for root in (data_dir / "uploads", data_dir / "tmp"):
        if root.is_dir():
            for f in root.rglob(f"*{TEMP_SUFFIX}"):
                if temp_file_is_orphaned(f):
                    f.unlink(missing_ok=True)
                    n += 1
    return n


def unfinished_media(db: Database, events: EventBus | None = None, *,
                     freed_only: bool = False) -> list[tuple[int, float]]:
    """Free media a dead process left `processing`; return every pending id with its delay (`freed_only`: only
    those just freed, for a queue that live workers elsewhere share: the others' tasks are still in it).

    Rows another live process is downloading stay theirs. The delay honours a retry that was already
    scheduled (metadata next_attempt_at). `events` hears of each media freed.
    """
    now = utcnow()
    states = MediaStates(db, events or EventBus())
    held = states.held()
    orphans = [row for row in held if holder_is_gone(row.meta, now)]
    if len(orphans) < len(held):
        log.info("%d media are being downloaded by another live process; left to it", len(held) - len(orphans))
    freed = set(states.free(orphans))
    out = []
    for mid, meta in states.pending():
        if freed_only and mid not in freed:
            continue
        delay = 0.0
        nxt = meta.get("next_attempt_at")
        if nxt:
            try:
                delay = max(0.0, (datetime.fromisoformat(nxt) - now).total_seconds())
            except ValueError:
                delay = 0.0
        out.append((mid, delay))
    return out
