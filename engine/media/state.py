"""The one owner of a media's processing status: every transition of a `chat_media` row, with its event.

    created      -> pending, or -> failed     ingest (`insert_new`, inside the batch's own transaction; a failed
                                              one gets a closed attempt, as every failure has)
    claimed      pending -> processing        holder and lease in metadata, a media_attempts row opened
    progress     processing                   event only: bytes so far
    completed    processing -> completed      the stored file; the attempt closed
    failed       processing -> failed         error and reason; the attempt closed
    rescheduled  processing -> pending        a transient failure with retries left: next_attempt_at
    retried      failed/pending -> pending    Retry: attempts count from 0 again
    left pending processing -> pending        Flush dropped the task
    freed        processing -> pending        its holder is gone, or its lease ran out
    released     processing -> pending        a known fault (disk full) cut the attempt short unrecorded
    refetched    completed -> pending         its stored file is bad and WhatsApp still has it
    lost         completed -> failed          its stored file is bad and WhatsApp no longer has it
    restored     failed -> completed          a file failed as bad is whole again (put back from a backup)
    removed      completed -> removed         the owner's retention policy deleted its file (engine.media.retention)
    removed      completed/failed/pending -> failed   the owner deleted its file: the message stays, reason deleted

Nothing else writes `processing_status` (tests/engine/media/test_state.py holds every other module to that).
Each transition is one statement or one transaction; its `MediaStatusChanged` is emitted after the commit,
so a subscriber reading the row sees what the event says. Where the database can (PostgreSQL), the event goes
to other processes inside that transaction, with its commit (engine.relay): none is lost to a process killed
between the two. A media created pending is announced by the
batch's `MessagesStored` instead (downloads of a burst would otherwise mean one more event each).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from engine import metrics_rollup
from engine.db.models import Chat, ChatMedia, MediaAttempt, MediaStatus, utcnow
from engine.db.session import Database
from engine.events import EventBus, MediaStatusChanged
from engine.media.holders import holder
from engine.media.reasons import FailureReason
from engine.relay import encode

log = logging.getLogger(__name__)
_CHUNK = 500  # ids per IN (...): well under SQLite's bound-parameter limit
_SETTLED_KEYS = ("error", "reason", "failed_at", "next_attempt_at", "holder")
_REMOVED_KEYS = ("holder", "next_attempt_at", "thumbnail")


@dataclass(frozen=True)
class Claim:
    """One attempt's hold on a media, with what the download needs to know about it."""

    media_id: int
    wa_media_id: str | None
    mime: str | None
    name: str | None
    kind: str | None
    workspace_id: int
    message_at: datetime | None
    created_at: datetime
    attempt: int
    attempt_id: int  # this attempt's media_attempts row


@dataclass(frozen=True)
class Held:
    """A `processing` row as a freer sees it: the lease it read is the one it may free."""

    media_id: int
    meta: dict[str, Any]

    @property
    def lease(self) -> Any:
        held = self.meta.get("holder")
        return held.get("lease_until") if isinstance(held, dict) else None


def insert_new(conn: Connection, *, name: str | None, mime: str | None, wa_media_id: str | None,
               sha256: str | None, error: str | None = None, reason: str | None = None) -> int:
    """created: a new media row, pending, or failed when Meta already said it cannot come (`error`).

    Runs on the ingest batch's connection, inside its transaction; the caller announces the failed ones
    with `MediaStates.announce_failed` once that transaction has committed.
    """
    now = utcnow()
    status = MediaStatus.FAILED if error else MediaStatus.PENDING
    meta = {"error": error, "reason": reason, "failed_at": now.isoformat(), "attempts": 0} if error else {}
    media_id = conn.execute(
        sqlite_insert(ChatMedia).values(
            name=name, type=mime, wa_media_id=wa_media_id, sha256=sha256, location="local",
            processing_status=status, meta=meta, created_at=now, updated_at=now,
        ).returning(ChatMedia.id)
    ).scalar_one()
    if error:
        # A failure like any other for the metrics: a closed attempt that never downloaded, counted as it is written.
        attempt_id = conn.execute(sqlite_insert(MediaAttempt).values(
            media_id=media_id, started_at=now, finished_at=now, outcome="failed", error=error,
        ).returning(MediaAttempt.id)).scalar_one()
        metrics_rollup.record_finished(conn, attempt_id)
    return media_id


# A claim runs beside other downloads on two cores: its statements are built once, and run on the table, not
# through the ORM (building and ORM-executing them cost a claim several times its SQL).
_media, _chats, _attempts = ChatMedia.__table__, Chat.__table__, MediaAttempt.__table__
_CLAIM = (update(_media)
          .where(_media.c.id == bindparam("media_id"), _media.c.processing_status == MediaStatus.PENDING)
          .values(processing_status=MediaStatus.PROCESSING, updated_at=bindparam("now"))
          .returning(_media.c.wa_media_id, _media.c.type, _media.c.name, _media.c.metadata, _media.c.created_at))
_CHAT_OF = select(_chats.c.type, _chats.c.workspace_id, _chats.c.created_at).where(
    _chats.c.media_id == bindparam("media_id"))
_SET_META = update(_media).where(_media.c.id == bindparam("media_id")).values(metadata=bindparam("meta"))
_START_ATTEMPT = (insert(_attempts).values(media_id=bindparam("media_id"), started_at=bindparam("now"))
                  .returning(_attempts.c.id))

_META_OF = select(_media.c.metadata, _media.c.type).where(_media.c.id == bindparam("media_id"))
_COMPLETE = update(_media).where(_media.c.id == bindparam("media_id")).values(
    metadata=bindparam("meta"), path=bindparam("path"), location=bindparam("location"), size=bindparam("size"),
    type=bindparam("type"), processing_status=MediaStatus.COMPLETED, processed_at=bindparam("now"),
    updated_at=bindparam("now"))
_FINISH_ATTEMPT = update(_attempts).where(_attempts.c.id == bindparam("attempt_id")).values(
    finished_at=bindparam("now"), outcome=bindparam("outcome"), error=bindparam("error"), bytes=bindparam("bytes"))


class MediaStates:
    """The transitions after creation, on `db`, announced on `events`. Cheap to build; thread-safe."""

    def __init__(self, db: Database, events: EventBus) -> None:
        self.db = db
        self.events = events

    def _emit(self, media_id: int, status: MediaStatus, **details: Any) -> None:
        self.events.emit(MediaStatusChanged(media_id, status, **details))

    @contextmanager
    def _transition(self, session: Callable[[], AbstractContextManager[Session]]
                    ) -> Iterator[tuple[Session, list[MediaStatusChanged]]]:
        """A transition's transaction and the events it appends: where the database can, they go to other
        processes inside it, with its commit; they are emitted here once it has committed, never if it fails."""
        events: list[MediaStatusChanged] = []
        with session() as s:
            yield s, events
            backend = self.db.backend
            shared = bool(events) and backend.events_go_with_commit
            if shared:
                backend.notify_with_commit(s.connection(), [encode(e, self.events.origin) for e in events])
        for event in events:
            self.events.emit(event, shared=shared)

    def announce_failed(self, media_ids: Iterable[int]) -> None:
        """The event of media created failed, once their batch has committed."""
        for mid in media_ids:
            self._emit(mid, MediaStatus.FAILED)

    # -- one attempt
    def claim(self, media_id: int, *, download_timeout: float) -> Claim | None:
        """claimed: pending -> processing, atomically; None when another task has it or it is settled.

        The holder's lease outlasts `download_timeout`, the longest an attempt may take. Not synced on its own:
        a claim a power cut takes leaves the row pending, taken again at the next start; the attempt's end,
        synced, carries it to the disk.
        """
        now = utcnow()
        with self._transition(self.db.unsynced_session) as (s, events):
            conn = s.connection()
            media = conn.execute(_CLAIM, {"media_id": media_id, "now": now}).first()
            if media is None:
                return None
            chat = conn.execute(_CHAT_OF, {"media_id": media_id}).first()
            meta = dict(media.metadata or {})
            attempt = int(meta.get("attempts", 0)) + 1
            meta.update(attempts=attempt, started_at=now.isoformat(), holder=holder(now, download_timeout))
            meta.pop("next_attempt_at", None)
            conn.execute(_SET_META, {"media_id": media_id, "meta": meta})
            attempt_id = conn.execute(_START_ATTEMPT, {"media_id": media_id, "now": now}).scalar_one()
            job = Claim(
                media_id=media_id, wa_media_id=media.wa_media_id, mime=media.type, name=media.name,
                kind=chat.type if chat else None, workspace_id=chat.workspace_id if chat else 0,
                message_at=chat.created_at if chat else None, created_at=media.created_at, attempt=attempt,
                attempt_id=attempt_id,
            )
            events.append(MediaStatusChanged(media_id, MediaStatus.PROCESSING))
        return job

    def progress(self, claim: Claim, *, bytes_done: int, bytes_total: int | None) -> None:
        """progress: no write, only the event (the row changes when the attempt ends)."""
        self._emit(claim.media_id, MediaStatus.PROCESSING, bytes_done=bytes_done, bytes_total=bytes_total)

    def complete(self, claim: Claim, *, path: str, location: str, size: int, mime: str | None,
                 sha256_hex: str, duration_ms: int) -> None:
        """completed: the file is stored; the row says where, and the attempt is closed."""
        with self._transition(self.db.durable_session) as (s, events):
            conn = s.connection()
            media = conn.execute(_META_OF, {"media_id": claim.media_id}).first()
            meta = {k: v for k, v in (media.metadata or {}).items() if k not in _SETTLED_KEYS}
            meta.update(verified_sha256=sha256_hex, duration_ms=duration_ms)
            conn.execute(_COMPLETE, {"media_id": claim.media_id, "meta": meta, "path": path, "location": location,
                                     "size": size, "type": media.type or mime, "now": utcnow()})
            _finish_attempt(s, claim, "completed", None, size)
            events.append(MediaStatusChanged(claim.media_id, MediaStatus.COMPLETED))

    def fail(self, claim: Claim, *, error: str, reason: str) -> None:
        """failed: no attempt left or none can help; Retry is the way back."""
        self._end_attempt(claim, MediaStatusChanged(claim.media_id, MediaStatus.FAILED, error=error, reason=reason),
                          next_attempt_at=None)

    def reschedule(self, claim: Claim, *, error: str, reason: str, delay: float) -> None:
        """rescheduled: pending again, due in `delay` seconds (the caller schedules the task)."""
        self._end_attempt(claim, MediaStatusChanged(claim.media_id, MediaStatus.PENDING, error=error, reason=reason),
                          next_attempt_at=utcnow() + timedelta(seconds=delay))

    def _end_attempt(self, claim: Claim, event: MediaStatusChanged, *, next_attempt_at: datetime | None) -> None:
        error = event.error
        with self._transition(self.db.durable_session) as (s, events):
            media = s.get(ChatMedia, claim.media_id)
            meta = dict(media.meta or {})
            meta.update(error=error, reason=event.reason, attempts=claim.attempt)
            meta.pop("holder", None)
            if next_attempt_at is not None:
                meta["next_attempt_at"] = next_attempt_at.isoformat()
                media.processing_status = MediaStatus.PENDING
            else:
                meta["failed_at"] = utcnow().isoformat()
                media.processing_status = MediaStatus.FAILED
            media.meta = meta
            _finish_attempt(s, claim, "failed" if next_attempt_at is None else "retry", error, None)
            events.append(event)

    # -- the owner's commands
    def retry(self, media_ids: Iterable[int]) -> list[int]:
        """retried: the given failed (or stranded pending) media back to pending with no attempt counted;
        returns those that were, for the caller to enqueue. Completed and processing media are left alone."""
        ids = list(media_ids)
        chosen: list[int] = []
        with self._transition(self.db.session) as (s, events):
            for i in range(0, len(ids), _CHUNK):
                chosen += _reset(s, ChatMedia.id.in_(ids[i:i + _CHUNK]))
            events += _pending(chosen)
        return chosen

    def retry_all(self) -> list[int]:
        """retried: every failed media, and any pending one a flush left without a task."""
        with self._transition(self.db.session) as (s, events):
            # What the owner deleted stays deleted: only its own Retry brings it back.
            chosen = _reset(s, func.coalesce(ChatMedia.meta["reason"].as_string(), "") != str(FailureReason.DELETED))
            events += _pending(chosen)
        return chosen

    def remove(self, media_ids: Iterable[int], *, before: Callable[[int], None]) -> list[int]:
        """removed: each media's stored file goes (`before(media_id)` removes it, safely for shared bytes),
        then the row is failed with reason deleted and no path. A media being downloaded is left alone.

        One row at a time, each in its own transaction; returns those removed. "Retry all failed" leaves them
        be; a Retry of the media itself fetches it again.
        """
        removed: list[int] = []
        for mid in media_ids:
            with self._transition(self.db.session) as (s, events):
                media = s.get(ChatMedia, mid)
                if media is None or media.processing_status == MediaStatus.PROCESSING:
                    continue
                before(mid)
                meta = {k: v for k, v in (media.meta or {}).items() if k not in _REMOVED_KEYS}
                meta.update(error=FailureReason.DELETED.text, reason=str(FailureReason.DELETED),
                            failed_at=utcnow().isoformat(), removed_at=utcnow().isoformat())
                media.meta = meta
                media.path = None
                media.processing_status = MediaStatus.FAILED
                events.append(MediaStatusChanged(mid, MediaStatus.FAILED, error=FailureReason.DELETED.text,
                                                 reason=str(FailureReason.DELETED)))
            removed.append(mid)
        return removed

    def leave_pending(self) -> list[int]:
        """left pending: every processing media, whose task a flush dropped (Retry or a restart brings it back)."""
        with self._transition(self.db.session) as (s, events):
            ids = list(s.execute(update(ChatMedia).where(ChatMedia.processing_status == MediaStatus.PROCESSING)
                                 .values(processing_status=MediaStatus.PENDING).returning(ChatMedia.id)).scalars())
            events += _pending(ids)
        return ids

    def release(self, media_ids: Iterable[int]) -> list[int]:
        """released: processing media whose attempt a known fault (a full disk, say) cut short before it
        could be recorded; pending again at once, so the guard's sweep queues them when the fault is gone."""
        ids = list(media_ids)
        released: list[int] = []
        with self._transition(self.db.session) as (s, events):
            for i in range(0, len(ids), _CHUNK):
                released += s.execute(update(ChatMedia).where(ChatMedia.id.in_(ids[i:i + _CHUNK]),
                                                              ChatMedia.processing_status == MediaStatus.PROCESSING)
                                      .values(processing_status=MediaStatus.PENDING)
                                      .returning(ChatMedia.id)).scalars().all()
            events += _pending(released)
        return released

    # -- recovery
    def held(self) -> list[Held]:
        """Every processing media, with the metadata that says who holds it until when."""
        with self.db.session() as s:
            rows = s.execute(select(ChatMedia.id, ChatMedia.meta)
                             .where(ChatMedia.processing_status == MediaStatus.PROCESSING)).all()
        return [Held(mid, meta if isinstance(meta, dict) else {}) for mid, meta in rows]

    def free(self, rows: Iterable[Held]) -> list[int]:
        """freed: processing -> pending for claims nobody can finish any more; returns those freed.

        A row is freed only if it still carries the lease it was judged by: one claimed again meanwhile
        (finished, retried and taken by another worker) belongs to its new holder.
        """
        freed: list[int] = []
        lease_now = ChatMedia.meta[("holder", "lease_until")].as_string()  # SQLite and PostgreSQL alike
        with self._transition(self.db.session) as (s, events):
            for row in rows:
                same = lease_now == row.lease if isinstance(row.lease, str) else lease_now.is_(None)
                if s.execute(update(ChatMedia).where(ChatMedia.id == row.media_id,
                                                     ChatMedia.processing_status == MediaStatus.PROCESSING, same)
                             .values(processing_status=MediaStatus.PENDING)).rowcount:
                    freed.append(row.media_id)
            events += _pending(freed)
        return freed

    def pending(self) -> list[tuple[int, dict[str, Any]]]:
        """Every pending media with its metadata, oldest first."""
        with self.db.session() as s:
            rows = s.execute(select(ChatMedia.id, ChatMedia.meta)
                             .where(ChatMedia.processing_status == MediaStatus.PENDING)
                             .order_by(ChatMedia.id)).all()
        return [(mid, meta if isinstance(meta, dict) else {}) for mid, meta in rows]


# -- a stored file found bad (engine.media.verify); each runs in the caller's session, one row at a time, and
# the caller emits the events once its transaction has committed.
LOST_FILE_REASONS = (FailureReason.FILE_DAMAGED, FailureReason.FILE_REMOVED)


def refetch_bad_file(s: Session, media_id: int, problem: str) -> bool:
    """refetched: a completed media whose stored file is bad becomes pending, to be downloaded afresh.

    Only from `completed`: a media something else has already moved on is left to it.
    """
    media = s.get(ChatMedia, media_id)
    if media is None or media.processing_status != MediaStatus.COMPLETED:
        return False
    meta = dict(media.meta or {})
    meta.update(attempts=0, refetch={"reason": problem, "at": utcnow().isoformat()})
    for k in ("next_attempt_at", "error", "failed_at"):
        meta.pop(k, None)
    media.meta = meta
    media.processing_status = MediaStatus.PENDING
    return True


def lose_bad_file(s: Session, media_id: int, *, error: str, reason: FailureReason) -> bool:
    """lost: a completed media whose stored file is bad and that WhatsApp no longer has: failed."""
    media = s.get(ChatMedia, media_id)
    if media is None or media.processing_status != MediaStatus.COMPLETED:
        return False
    meta = dict(media.meta or {})
    meta.update(error=error, reason=str(reason), failed_at=utcnow().isoformat())
    media.meta = meta
    media.processing_status = MediaStatus.FAILED
    return True


def restore_whole_file(s: Session, media_id: int) -> bool:
    """restored: a media failed for a bad stored file whose file is whole again: completed."""
    media = s.get(ChatMedia, media_id)
    if media is None or media.processing_status != MediaStatus.FAILED:
        return False
    meta = dict(media.meta or {})
    if meta.get("reason") not in LOST_FILE_REASONS:
        return False
    for k in ("error", "reason", "failed_at"):
        meta.pop(k, None)
    media.meta = meta
    media.processing_status = MediaStatus.COMPLETED
    return True


def remove_by_retention(s: Session, media_id: int, *, policy: str) -> dict[str, Any] | None:
    """removed: a completed media whose file the retention policy deletes; returns what the row said.

    The row lets go of its path first (the caller frees the bytes once this has committed), so a file is
    never gone while a row still says completed, which the scrub would take for a lost file. Only from
    `completed`: a media something else has moved on meanwhile is left to it.
    """
    media = s.get(ChatMedia, media_id)
    if media is None or media.processing_status != MediaStatus.COMPLETED or not media.path:
        return None
    before = {"path": media.path, "location": media.location, "sha256": (media.meta or {}).get("verified_sha256")}
    meta = dict(media.meta or {})
    meta["removed"] = {"at": utcnow().isoformat(), "by": "retention", "policy": policy, **before}
    media.meta = meta
    media.path = None
    media.processing_status = MediaStatus.REMOVED
    return before


def _pending(media_ids: list[int]) -> list[MediaStatusChanged]:
    return [MediaStatusChanged(mid, MediaStatus.PENDING) for mid in media_ids]


def _reset(s: Session, which: Any) -> list[int]:
    where = [ChatMedia.processing_status.in_([MediaStatus.FAILED, MediaStatus.PENDING])]
    if which is not None:
        where.append(which)
    rows = s.execute(select(ChatMedia).where(*where)).scalars().all()
    retried_at = utcnow().isoformat()
    for m in rows:
        meta = dict(m.meta or {})
        meta.update(attempts=0, retried_at=retried_at)
        meta.pop("next_attempt_at", None)
        m.meta = meta
        m.processing_status = MediaStatus.PENDING
    return [m.id for m in rows]


def _finish_attempt(s: Session, claim: Claim, outcome: str, error: str | None, size: int | None) -> None:
    s.flush()  # the row's own changes first: the roll-up below reads the reason from it
    s.connection().execute(_FINISH_ATTEMPT, {"attempt_id": claim.attempt_id, "now": utcnow(), "outcome": outcome,
                                             "error": error, "bytes": size})
    # In the same transaction: the metrics roll-ups count the attempt as the row says it ended.
    metrics_rollup.record_finished(s.connection(), claim.attempt_id)

