"""Start-up reconciliation: Huey delivers at most once, so the database decides what still needs work."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update

from engine.db.models import ChatMedia, MediaStatus, utcnow
from engine.db.session import Database
from engine.media.holders import holder_is_gone, temp_file_is_orphaned
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


def unfinished_media(db: Database) -> list[tuple[int, float]]:
    """Reset media a dead process left `processing` to `pending`; return every pending id with its delay.

    Rows another live process is downloading stay theirs. The delay honours a retry that was already
    scheduled (metadata next_attempt_at).
    """
    now = utcnow()
    with db.session() as s:
        held = s.execute(select(ChatMedia.id, ChatMedia.meta)
                         .where(ChatMedia.processing_status == MediaStatus.PROCESSING)).all()
        orphans = [mid for mid, meta in held if holder_is_gone(meta, now)]
        if len(orphans) < len(held):
            log.info("%d media are being downloaded by another live process; left to it", len(held) - len(orphans))
        for i in range(0, len(orphans), 500):
            s.execute(update(ChatMedia).where(ChatMedia.id.in_(orphans[i:i + 500]),
                                              ChatMedia.processing_status == MediaStatus.PROCESSING)
                      .values(processing_status=MediaStatus.PENDING))
        rows = s.execute(select(ChatMedia.id, ChatMedia.meta)
                         .where(ChatMedia.processing_status == MediaStatus.PENDING)
                         .order_by(ChatMedia.id)).all()
    out = []
    for mid, meta in rows:
        delay = 0.0
        nxt = (meta or {}).get("next_attempt_at")
        if nxt:
            try:
                delay = max(0.0, (datetime.fromisoformat(nxt) - now).total_seconds())
            except ValueError:
                delay = 0.0
        out.append((mid, delay))
    return out
