"""Stored files checked against the sha256 recorded when they were downloaded, and mended.

`verify_media` (the `mediadesk verify` command) and `scrub` (a bounded batch, run periodically on the
engine's Huey queue at housekeeping priority, so that every file is re-hashed within a configured
period) re-read stored files. A file whose bytes no longer match, or that is gone, is fetched again
while WhatsApp still has the media (7 days after the message); past that the media shows as failed
with the reason. Identical media share one file, and each file is hashed once per run.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from engine.db.models import Chat, ChatMedia, MediaStatus, Setting, utcnow
from engine.db.session import Database
from engine.db.settings_rows import put_setting
from engine.errors import StorageError
from engine.events import EventBus, MediaStatusChanged
from engine.media.download import META_RETENTION
from engine.media.graph import digest_matches
from engine.media.reasons import FailureReason
from engine.media.state import LOST_FILE_REASONS, lose_bad_file, refetch_bad_file, restore_whole_file
from engine.storage import LocalStorage, Storage
from engine.storage.dedupe import file_sha256, prune_index

log = logging.getLogger(__name__)
DAMAGED = "the stored file is damaged"
REMOVED = "the stored file was removed"
REASONS = {"damaged": DAMAGED, "removed": REMOVED}
LOST_REASONS = tuple(str(r) for r in LOST_FILE_REASONS)  # `reason` of media failed for their stored file
SCRUB_CURSOR = "library.scrub_cursor"
PAGE = 1000  # media read, hashed and settled at a time by verify_media
DIGEST_CACHE = 100_000  # digests kept for files shared by several media

Requeue = Callable[[list[int]], None]


@dataclass(frozen=True)
class FileProblem:
    media_id: int
    name: str | None
    path: str
    problem: str  # "damaged" | "removed"
    refetching: bool | None  # queued again; False: WhatsApp no longer has it, the media failed; None: report only

    @property
    def reason(self) -> str:
        return REASONS[self.problem]


@dataclass(frozen=True)
class VerifyReport:
    media: int  # completed media checked
    files: int  # distinct stored files re-hashed (identical media share one)
    problems: tuple[FileProblem, ...] = ()
    restored: tuple[int, ...] = ()  # media failed for a bad file whose file is whole again (verify --all)
    unreadable: tuple[str, ...] = ()  # storage errors: no verdict on those files

    @property
    def damaged(self) -> int:
        return sum(1 for p in self.problems if p.problem == "damaged")

    @property
    def removed(self) -> int:
        return sum(1 for p in self.problems if p.problem == "removed")

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unreadable

    def summary(self) -> str:
        # The counts come after a colon: "damaged of 1 file" would read as one damaged file.
        files = f"{self.files} file" + ("" if self.files == 1 else "s")
        line = f"checked {files} ({self.media} media): {self.damaged} damaged, {self.removed} removed"
        if self.unreadable:
            line += f", {len(self.unreadable)} could not be read"
        if self.restored:
            line += f", {len(self.restored)} whole again"
        return line

    def details(self) -> list[str]:
        out = []
        for p in self.problems:
            then = {True: "fetching it again from WhatsApp", False: "WhatsApp no longer has it",
                    None: "left as it is"}[p.refetching]
            out.append(f"media {p.media_id} ({p.name or p.path}): {p.reason}; {then}")
        out += [f"could not read: {e}" for e in self.unreadable]
        out += [f"media {mid}: the stored file is whole again" for mid in self.restored]
        return out


@dataclass(frozen=True)
class _Row:
    id: int
    name: str | None
    path: str
    location: str
    expected: str | None
    wa_media_id: str | None
    message_at: datetime
    status: str


def _rows(db: Database, *, after_id: int = 0, limit: int | None = None,
          media_ids: Iterable[int] | None = None, lost_too: bool = False) -> list[_Row]:
    which = ChatMedia.processing_status == MediaStatus.COMPLETED
    if lost_too:
        which = or_(which, and_(ChatMedia.processing_status == MediaStatus.FAILED,
                                ChatMedia.meta["reason"].as_string().in_(LOST_REASONS)))
    q = (select(ChatMedia.id, ChatMedia.name, ChatMedia.path, ChatMedia.location, ChatMedia.sha256,
                ChatMedia.meta, ChatMedia.wa_media_id, ChatMedia.created_at, Chat.created_at,
                ChatMedia.processing_status)
         .outerjoin(Chat, Chat.media_id == ChatMedia.id)
         .where(which, ChatMedia.path.is_not(None), ChatMedia.id > after_id)
         .order_by(ChatMedia.id))
    if media_ids is not None:
        q = q.where(ChatMedia.id.in_(list(media_ids)))
    if limit is not None:
        q = q.limit(limit)
    with db.session() as s:
        found = s.execute(q).all()
    rows = []
    for mid, name, path, location, webhook_sha, meta, wa_id, created, message_at, status in found:
        meta = meta or {}
        rows.append(_Row(mid, name, path, location or "local", meta.get("verified_sha256") or webhook_sha, wa_id,
                         message_at or created, str(status)))
    return rows


def _digest_matches(expected: str | None, actual: str) -> bool:
    # The row's own digest is hex (verified_sha256); an old row may have only the webhook's, hex or base64.
    return digest_matches(expected, bytes.fromhex(actual))


class _Digests:
    """Digests of the files read in this run, so a file shared by several media is read once.

    Bounded (least recently used first out): a run over a million files must not hold a million digests.
    """

    def __init__(self, limit: int = DIGEST_CACHE) -> None:
        self.files = 0  # distinct files read
        self._limit = limit
        self._seen: OrderedDict[tuple[Any, ...], str | None] = OrderedDict()

    def get(self, ident: tuple[Any, ...], read: Callable[[], str | None]) -> str | None:
        if ident in self._seen:
            self._seen.move_to_end(ident)
            return self._seen[ident]
        digest = read()
        self.files += 1
        self._seen[ident] = digest
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return digest


def _check(rows: list[_Row], storage_for: Callable[[str], Storage],
           digests: _Digests) -> tuple[list[tuple[_Row, str]], list[str]]:
    """([(row, "damaged" | "removed")], storage errors)."""
    bad: list[tuple[_Row, str]] = []
    errors: list[str] = []
    for row in rows:
        try:
            digest = _digest_of(storage_for(row.location), row, digests)
        except StorageError as exc:
            errors.append(str(exc))
            continue
        if digest is None:
            bad.append((row, "removed"))
        elif not _digest_matches(row.expected, digest):
            bad.append((row, "damaged"))
    return bad, errors


def _digest_of(storage: Storage, row: _Row, digests: _Digests) -> str | None:
    """The stored file's sha256 (hex), None when it is gone; StorageError when it cannot be read."""
    local = storage.local_path(row.path)
    if local is not None:
        try:
            st = os.stat(local)
        except FileNotFoundError:
            return digests.get(("gone", row.location, row.path), lambda: None)
        except OSError as exc:
            raise StorageError(f"could not read {local.name}: {exc.strerror or exc}") from exc

        def read_local() -> str:
            try:
                return file_sha256(local)
            except OSError as exc:
                raise StorageError(f"could not read {local.name}: {exc.strerror or exc}") from exc

        return digests.get(("local", st.st_dev, st.st_ino), read_local)  # hard links of one file: read once

    def read_remote() -> str | None:
        if not storage.exists(row.path):
            return None
        sha256_of = getattr(storage, "sha256_of", None)
        if sha256_of is not None:
            return sha256_of(row.path)
        return hashlib.sha256(storage.read_bytes(row.path)).hexdigest()

    return digests.get((row.location, row.path), read_remote)


def _settle(db: Database, checked: list[_Row], bad: list[tuple[_Row, str]], *, requeue: Requeue,
            events: EventBus | None) -> tuple[list[FileProblem], list[int]]:
    now = utcnow()
    problems: list[FileProblem] = []
    requeued: list[int] = []
    bad_ids = {row.id for row, _ in bad}
    restored: list[int] = []
    with db.session() as s:
        for row, problem in bad:
            if row.status != MediaStatus.COMPLETED:  # failed for its file before (verify --all): still bad
                problems.append(FileProblem(row.id, row.name, row.path, problem, False))
                continue
            refetch = bool(row.wa_media_id) and now - row.message_at <= META_RETENTION
            if refetch:
                changed = refetch_bad_file(s, row.id, problem)
            else:
                changed = lose_bad_file(s, row.id, reason=FailureReason(f"file_{problem}"),
                                        error=f"{REASONS[problem]}, and WhatsApp no longer has it "
                                              "(it keeps media for 7 days)")
            if changed:
                problems.append(FileProblem(row.id, row.name, row.path, problem, refetch))
                if refetch:
                    requeued.append(row.id)
        for row in checked:
            if row.id not in bad_ids and row.status == MediaStatus.FAILED and restore_whole_file(s, row.id):
                restored.append(row.id)
    if requeued:
        requeue(requeued)
    for p in problems:
        log.warning("media %s: %s (%s)%s", p.media_id, p.reason, p.path,
                    "; fetching it again" if p.refetching else "; WhatsApp no longer has it")
        if events is not None:
            status = MediaStatus.PENDING if p.refetching else MediaStatus.FAILED
            events.emit(MediaStatusChanged(p.media_id, status, error=p.reason, reason=f"file_{p.problem}"))
    for mid in restored:
        log.info("media %s: the stored file is whole again", mid)
        if events is not None:
            events.emit(MediaStatusChanged(mid, MediaStatus.COMPLETED))
    return problems, restored


def verify_media(db: Database, storage_for: Callable[[str], Storage], *, requeue: Requeue | None,
                 everything: bool = False, media_ids: Iterable[int] | None = None,
                 events: EventBus | None = None) -> VerifyReport:
    """Re-hash the stored files of completed media; damaged or missing ones are fetched again (or failed).

    `everything` also re-checks media already failed for a bad file, and completes those whose file is
    whole again. `requeue(ids)` enqueues downloads; with None the report is all, no media changes.
    Works through the library a page at a time: memory stays flat however many media there are.
    """
    ids = None if media_ids is None else list(media_ids)
    digests = _Digests()
    parts: list[VerifyReport] = []
    after = 0
    while rows := _rows(db, after_id=after, limit=PAGE, media_ids=ids, lost_too=everything):
        parts.append(_verify(db, storage_for, rows, requeue=requeue, events=events, digests=digests))
        after = rows[-1].id
    return VerifyReport(media=sum(p.media for p in parts), files=digests.files,
                        problems=tuple(x for p in parts for x in p.problems),
                        restored=tuple(x for p in parts for x in p.restored),
                        unreadable=tuple(x for p in parts for x in p.unreadable))


def _verify(db: Database, storage_for: Callable[[str], Storage], rows: list[_Row], *,
            requeue: Requeue | None, events: EventBus | None, digests: _Digests | None = None) -> VerifyReport:
    digests = digests or _Digests()
    bad, errors = _check(rows, storage_for, digests)
    restored: list[int] = []
    if requeue is None:
        problems = [FileProblem(r.id, r.name, r.path, p, None) for r, p in bad]
    else:
        problems, restored = _settle(db, rows, bad, requeue=requeue, events=events)
    return VerifyReport(media=len(rows), files=digests.files, problems=tuple(problems), restored=tuple(restored),
                        unreadable=tuple(errors))


# -- the rolling scrub
def scrub_batch_size(total: int, *, every_min: int, period_days: float, max_files: int) -> int:
    """How many files one run checks so that all `total` are checked within the period, bounded."""
    runs = max(1.0, period_days * 24 * 60 / max(every_min, 1))
    return max(1, min(max_files, math.ceil(total / runs)))


def scrub(db: Database, storage_for: Callable[[str], Storage], *, requeue: Requeue, every_min: int,
          period_days: float, max_files: int, events: EventBus | None = None) -> VerifyReport:
    """Check the next batch of stored files, continuing where the previous run stopped (wrapping round)."""
    with db.session() as s:
        total = s.execute(select(func.count()).where(ChatMedia.processing_status == MediaStatus.COMPLETED,
                                                     ChatMedia.path.is_not(None))).scalar_one()
        cursor_row = s.get(Setting, SCRUB_CURSOR)
        cursor = int(cursor_row.value) if cursor_row is not None and (cursor_row.value or "").isdigit() else 0
    batch = scrub_batch_size(total, every_min=every_min, period_days=period_days, max_files=max_files)
    if batch * period_days * 24 * 60 / max(every_min, 1) < total:
        log.warning("the scrub checks %d files per run, too few to check all %d within %g days", batch, total,
                    period_days)
    rows = _rows(db, after_id=cursor, limit=batch)
    if len(rows) < batch and cursor:  # the end of the table: start again from the first media
        seen = {r.id for r in rows}
        rows += [r for r in _rows(db, limit=batch - len(rows)) if r.id not in seen]
    report = _verify(db, storage_for, rows, requeue=requeue, events=events)
    with db.session() as s:
        put_setting(s, SCRUB_CURSOR, str(rows[-1].id if rows else 0))
    local = storage_for(LocalStorage.location)
    if isinstance(local, LocalStorage):  # one index shard per run, in turn: all 256 within days
        pruned = prune_index(local, f"{int(time.time() // (max(every_min, 1) * 60)) % 256:02x}")
        if pruned:
            log.info("scrub: dropped %d index names whose files no row uses any more", pruned)
    if report.problems or report.unreadable:
        log.warning("scrub: %s", report.summary())
    else:
        log.info("scrub: %s", report.summary())
    return report


def schedule_scrub(huey: Any, run: Callable[[], object], *, every_min: int) -> None:
    """Run `run()` every `every_min` minutes on `huey`, behind downloads (housekeeping priority)."""
    if not every_min:
        return
    from huey import crontab

    from engine.tasks import HOUSEKEEPING_PRIORITY

    @huey.periodic_task(crontab(minute=f"*/{every_min}"), priority=HOUSEKEEPING_PRIORITY, name="scrub_media")
    def scrub_media() -> None:
        run()
