"""Kept as long as the owner wants: a retention policy over the stored files of completed media.

A policy is a list of rules, each "files of these types (or of every type), older than N days, are moved
to S3" or "... are deleted"; a media follows the first rule naming its type. Keeping everything on this
computer forever is the empty policy, and the default. Age is the message's age (when it was received).

`preview(policy)` says what a run would do, per action and type, without changing anything;
`apply(policy)` does it. Identical files are shared (`engine.storage.dedupe`): deleting one media's file
never removes bytes another media still uses, and moving to S3 uploads each content once (its
content-addressed key). A deleted media becomes `removed` (`engine.media.state.remove_by_retention`),
which no reader counts as a failure; a moved one stays `completed`, with its location and key changed.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from engine.config import RETENTION_ACTIONS, Config
from engine.db.models import Chat, ChatMedia, MediaStatus, utcnow
from engine.db.session import Database
from engine.errors import ConfigError, StorageError
from engine.events import EventBus, MediaStatusChanged
from engine.media.dedupe import release_stored_file
from engine.media.kinds import MEDIA_TYPES, media_type_sql
from engine.media.state import remove_by_retention
from engine.sizes import size_words
from engine.storage import LocalStorage, Storage
from engine.storage.dedupe import content_key, file_sha256, index_path

log = logging.getLogger(__name__)
ACTIONS = RETENTION_ACTIONS
PAGE = 500
RUN_LIMIT = 2000  # media one periodic run handles: a first run over years of files spreads over hours
Progress = Callable[[int, int], None]  # (media done, media to do)


@dataclass(frozen=True)
class RetentionRule:
    action: str  # "s3" | "delete"
    older_than_days: int
    types: tuple[str, ...] = ()  # empty: every type

    def __post_init__(self) -> None:
        if self.action not in ("s3", "delete"):
            raise ConfigError(f"a retention rule moves to S3 or deletes, got {self.action!r}")
        if int(self.older_than_days) < 1:
            raise ConfigError(f"a retention rule needs at least 1 day, got {self.older_than_days}")
        unknown = sorted(set(self.types) - set(MEDIA_TYPES))
        if unknown:
            raise ConfigError(f"unknown media type(s) {', '.join(unknown)}; use {', '.join(MEDIA_TYPES)}")

    def describe(self) -> str:
        what = "move to S3" if self.action == "s3" else "delete"
        which = ", ".join(self.types) if self.types else "all media"
        return f"{what} {which} after {self.older_than_days} days"


@dataclass(frozen=True)
class RetentionPolicy:
    rules: tuple[RetentionRule, ...] = ()

    @property
    def keeps_everything(self) -> bool:
        return not self.rules

    @classmethod
    def from_config(cls, cfg: Config) -> RetentionPolicy:
        if cfg.retention_action == "keep":
            return cls()
        return cls((RetentionRule(cfg.retention_action, cfg.retention_days, tuple(cfg.retention_types)),))

    def describe(self) -> str:
        return "; ".join(r.describe() for r in self.rules) if self.rules else "keep everything on this computer"

    def _claims(self) -> Iterator[tuple[RetentionRule, tuple[str, ...]]]:
        """Each rule with the types it decides (those no earlier rule took)."""
        taken: set[str] = set()
        for rule in self.rules:
            kinds = tuple(k for k in (rule.types or MEDIA_TYPES) if k not in taken)
            taken.update(kinds)
            if kinds:
                yield rule, kinds


@dataclass(frozen=True)
class RetentionLine:
    action: str  # "s3" | "delete"
    type: str
    media: int
    bytes: int  # the distinct stored bytes of those media (a file several media share, once)


@dataclass(frozen=True)
class RetentionPreview:
    policy: RetentionPolicy
    lines: tuple[RetentionLine, ...] = ()
    frees_local_bytes: int = 0  # what this computer's disk gets back: files no media left here still uses

    @property
    def media(self) -> int:
        return sum(line.media for line in self.lines)

    @property
    def bytes(self) -> int:
        return sum(line.bytes for line in self.lines)

    def count(self, action: str) -> int:
        return sum(line.media for line in self.lines if line.action == action)

    def summary(self) -> str:
        if self.policy.keeps_everything:
            return "the policy keeps everything on this computer: nothing to do"
        if not self.lines:
            return f"{self.policy.describe()}: no media old enough"
        parts = [f"{n} to {'move to S3' if a == 's3' else 'delete'}" for a in ("s3", "delete")
                 if (n := self.count(a))]
        return (f"{self.policy.describe()}: {', '.join(parts)} ({size_words(self.bytes)}); "
                f"frees {size_words(self.frees_local_bytes)} on this computer")

    def details(self) -> list[str]:
        return [f"  {'move to S3' if line.action == 's3' else 'delete':<10} {line.type:<9} {line.media:>7} media  "
                f"{size_words(line.bytes):>10}" for line in self.lines]


@dataclass(frozen=True)
class RetentionReport:
    moved: int = 0  # media now on S3
    removed: int = 0  # media whose file the policy deleted
    uploaded: int = 0  # distinct contents sent to S3 (identical media share one)
    skipped: int = 0  # changed by something else meanwhile (a re-download, another run): left alone
    errors: tuple[str, ...] = ()
    stopped: bool = False  # cancelled, or it reached its limit: the next run goes on

    def summary(self) -> str:
        parts = []
        if self.moved:
            parts.append(f"moved {self.moved} media to S3 ({self.uploaded} file{'' if self.uploaded == 1 else 's'} "
                         "uploaded)")
        if self.removed or not self.moved:
            parts.append(f"removed {self.removed} media")
        line = ", ".join(parts)
        if self.skipped:
            line += f", {self.skipped} changed meanwhile and left alone"
        if self.errors:
            line += f", {len(self.errors)} problem" + ("" if len(self.errors) == 1 else "s")
        return line


@dataclass(frozen=True)
class _Row:
    id: int
    path: str
    location: str
    size: int | None
    mime: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "document"

    @property
    def sha256(self) -> str | None:
        return self.meta.get("verified_sha256")


def _where(rule: RetentionRule, kinds: tuple[str, ...]) -> list[Any]:
    cutoff = utcnow() - timedelta(days=int(rule.older_than_days))
    where = [ChatMedia.processing_status == MediaStatus.COMPLETED, ChatMedia.path.is_not(None),
             media_type_sql().in_(kinds), func.coalesce(Chat.created_at, ChatMedia.created_at) < cutoff]
    if rule.action == "s3":
        where.append(ChatMedia.location == LocalStorage.location)  # already there: nothing to move
    return where


def _candidates(db: Database, rule: RetentionRule, kinds: tuple[str, ...], *, after: int = 0,
                limit: int = PAGE) -> list[_Row]:
    q = (select(ChatMedia.id, ChatMedia.path, ChatMedia.location, ChatMedia.size, ChatMedia.type, ChatMedia.meta,
                media_type_sql())
         .outerjoin(Chat, Chat.media_id == ChatMedia.id)
         .where(*_where(rule, kinds), ChatMedia.id > after).order_by(ChatMedia.id).limit(limit))
    with db.session() as s:
        return [_Row(mid, path, loc or "local", size, mime, meta if isinstance(meta, dict) else {}, kind)
                for mid, path, loc, size, mime, meta, kind in s.execute(q)]


def _pages(db: Database, rule: RetentionRule, kinds: tuple[str, ...]) -> Iterator[_Row]:
    after = 0
    while page := _candidates(db, rule, kinds, after=after):
        yield from page
        after = page[-1].id


def _count(db: Database, rule: RetentionRule, kinds: tuple[str, ...]) -> int:
    with db.session() as s:
        return int(s.execute(select(func.count()).select_from(ChatMedia)
                             .outerjoin(Chat, Chat.media_id == ChatMedia.id).where(*_where(rule, kinds))).scalar_one())


def _index_links(local: LocalStorage, st: os.stat_result, sha256: str | None) -> int:
    """1 when the dedupe index names this file too (it goes with the last row's name), else 0."""
    if not sha256:
        return 0
    try:
        ist = os.stat(index_path(local, sha256))
    except (OSError, ValueError):  # not indexed (dedupe could not link it), or not a digest of ours
        return 0
    return int((ist.st_dev, ist.st_ino) == (st.st_dev, st.st_ino))


def preview(db: Database, storage_for: Callable[[str], Storage], policy: RetentionPolicy) -> RetentionPreview:
    """What `apply(policy)` would do now, per action and type: nothing is changed.

    Sizes count a file several media share once. `frees_local_bytes` counts only local files whose every
    name goes (a photo sent twice, one copy old and one recent, stays on disk for the recent one).
    """
    local = storage_for(LocalStorage.location)
    lines: dict[tuple[str, str], list[int]] = {}
    seen: set[tuple[Any, ...]] = set()  # shared local files and S3 keys already counted
    names_going: dict[tuple[int, int], list[int]] = {}  # shared local files: [names going, names to keep, size]
    frees = 0
    for rule, kinds in policy._claims():
        for row in _pages(db, rule, kinds):
            acc = lines.setdefault((rule.action, row.kind), [0, 0])
            acc[0] += 1
            p = local.local_path(row.path) if row.location == LocalStorage.location else None
            if p is None:
                ident: tuple[Any, ...] = (row.location, row.path)
                if ident not in seen:
                    seen.add(ident)
                    acc[1] += int(row.size or 0)
                continue
            try:
                st = os.stat(p)
            except OSError:
                continue  # gone already: the scrub reports it; nothing to free
            ident = (st.st_dev, st.st_ino)
            # Only a file with names beyond this row's and the index's can be another row's too: only those are
            # remembered, so a preview over a million files holds the shared ones, not all.
            shared = st.st_nlink > 2
            if not shared or ident not in seen:
                if shared:
                    seen.add(ident)
                acc[1] += st.st_size
            keep = st.st_nlink - _index_links(local, st, row.sha256) if isinstance(local, LocalStorage) else 1
            if keep <= 1:
                frees += st.st_size
                continue
            going = names_going.setdefault(ident, [0, keep, st.st_size])
            going[0] += 1
    frees += sum(size for n, keep, size in names_going.values() if n >= keep)
    order = {a: i for i, a in enumerate(ACTIONS)}
    out = tuple(RetentionLine(a, k, n, b) for (a, k), (n, b) in
                sorted(lines.items(), key=lambda kv: (order[kv[0][0]], MEDIA_TYPES.index(kv[0][1]))))
    return RetentionPreview(policy, out, frees)


def apply(db: Database, storage_for: Callable[[str], Storage], policy: RetentionPolicy, *,
          progress: Progress | None = None, events: EventBus | None = None, limit: int | None = None,
          cancel: threading.Event | None = None) -> RetentionReport:
    """Do what the policy says to every media old enough (at most `limit`); `progress(done, total)` after each.

    A media changed meanwhile (being fetched again, moved by another run) is left alone. S3 refusing a
    file stops the moves (every other would fail the same way) and says why; deletions go on.
    """
    plan = list(policy._claims())
    total = sum(_count(db, rule, kinds) for rule, kinds in plan)
    if limit is not None:
        total = min(total, limit)
    done = moved = removed = skipped = 0
    uploaded: set[str] = set()
    errors: list[str] = []
    stopped = False
    for rule, kinds in plan:
        s3 = None
        if rule.action == "s3":
            try:
                s3 = storage_for("amazon")
            except StorageError:
                errors.append("cannot move to S3: no S3 bucket is set up (save one in Settings first)")
                continue
        for row in _pages(db, rule, kinds):
            if (cancel is not None and cancel.is_set()) or (limit is not None and done >= limit):
                stopped = True
                break
            try:
                if rule.action == "delete":
                    changed = _delete(db, storage_for, row, policy=rule.describe(), events=events)
                    removed += changed
                else:
                    key = _move(db, storage_for, s3, row, events=events)
                    changed = key is not None
                    if key:
                        uploaded.add(key)
                        moved += 1
                skipped += not changed
            except StorageError as exc:
                errors.append(f"media {row.id}: {exc}")
                log.warning("retention: media %s: %s", row.id, exc)
                if rule.action == "s3":
                    break
            done += 1
            if progress is not None:
                progress(done, total)
        if stopped:
            break
    report = RetentionReport(moved=moved, removed=removed, uploaded=len(uploaded), skipped=skipped,
                             errors=tuple(errors), stopped=stopped)
    if moved or removed or errors:
        (log.warning if errors else log.info)("retention (%s): %s", policy.describe(), report.summary())
    return report


def _delete(db: Database, storage_for: Callable[[str], Storage], row: _Row, *, policy: str,
            events: EventBus | None) -> bool:
    with db.session() as s:
        before = remove_by_retention(s, row.id, policy=policy)
    if before is None:
        return False
    if events is not None:
        events.emit(MediaStatusChanged(row.id, MediaStatus.REMOVED))
    # The row said removed first: the bytes go only once no row names them (a shared file stays for the others).
    release_stored_file(db, storage_for, path=before["path"], location=before["location"], sha256=before["sha256"])
    return True


def _move(db: Database, storage_for: Callable[[str], Storage], s3: Any, row: _Row, *,
          events: EventBus | None) -> str | None:
    """Upload one local media's file to its content-addressed key (unless that content is there already),
    point the row at it, then let go of the local name. Returns the key, or None when the row changed."""
    local = storage_for(LocalStorage.location)
    source = local.local_path(row.path)
    if source is None or not source.is_file():
        return None  # the scrub reports and mends missing files: nothing here to move
    sha = row.sha256 or file_sha256(source)
    key = content_key(sha)
    store_shared = getattr(s3, "store_shared", None)
    if store_shared is None:
        raise StorageError("this storage cannot take shared files")
    temp = Path(s3.temp_dir(key)) / f".move-{row.id}-{uuid.uuid4().hex[:8]}.part"
    try:
        os.link(source, temp)  # the upload consumes its temp file: a second name costs nothing
    except OSError:
        shutil.copyfile(source, temp)
    try:
        store_shared(temp, key, sha256=sha, content_type=row.mime or "application/octet-stream")
    finally:
        temp.unlink(missing_ok=True)  # consumed by an upload; left behind by a refused one
    meta = {**row.meta, "verified_sha256": sha, "moved": {"at": utcnow().isoformat(), "from": row.path,
                                                          "by": "retention"}}
    with db.session() as s:
        changed = s.execute(update(ChatMedia).where(
            ChatMedia.id == row.id, ChatMedia.processing_status == MediaStatus.COMPLETED,
            ChatMedia.location == LocalStorage.location, ChatMedia.path == row.path)
            .values(location=s3.location, path=key, meta=meta)).rowcount
    if not changed:
        return None  # the object stays: content-addressed, it is whoever next moves these bytes' copy
    release_stored_file(db, storage_for, path=row.path, location=LocalStorage.location, sha256=sha)
    if events is not None:
        events.emit(MediaStatusChanged(row.id, MediaStatus.COMPLETED))
    return key


def schedule_retention(huey: Any, run: Callable[[], object], *, policy: RetentionPolicy) -> None:
    """Apply the policy hourly on `huey`, behind downloads (housekeeping priority); nothing when it keeps all."""
    if policy.keeps_everything:
        return
    from huey import crontab

    from engine.tasks import HOUSEKEEPING_PRIORITY

    @huey.periodic_task(crontab(minute="41"), priority=HOUSEKEEPING_PRIORITY, name="apply_retention")
    def apply_retention() -> None:
        run()
