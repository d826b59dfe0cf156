"""The media library's view of shared files: what they cost on disk, and removing one row's file safely.

Identical bytes are stored once (`engine.storage.dedupe`); each `chat_media` row keeps its own name,
path and metadata. These functions answer for the rows: how much storage they really use, and how to
take one row's file away without taking it from another row.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.db.models import Chat, ChatMedia, MediaStatus, Workspace
from engine.db.session import Database
from engine.errors import StorageError
from engine.media.kinds import media_type_sql
from engine.storage import LocalStorage, Storage
from engine.storage.dedupe import release_local

_PAGE = 5000


@dataclass(frozen=True)
class UsageSlice:
    """Storage of one group (a type, a month, a workspace): a shared file counts in the group of its first row."""

    local_bytes: int = 0
    s3_bytes: int = 0
    files: int = 0

    @property
    def bytes(self) -> int:
        return self.local_bytes + self.s3_bytes


@dataclass(frozen=True)
class StorageUsage:
    media: int  # completed media with a stored file
    files: int  # distinct stored files: identical media share one
    bytes: int  # what those distinct files take (each shared file counted once)
    bytes_if_copied: int  # what they would take with a copy per media
    local_bytes: int = 0
    s3_bytes: int = 0
    by_type: dict[str, UsageSlice] = field(default_factory=dict)  # image, video, audio, document, sticker
    by_month: dict[str, UsageSlice] = field(default_factory=dict)  # "2026-03", oldest first, by message date
    by_workspace: dict[str, UsageSlice] = field(default_factory=dict)  # the workspace's name
    disk_free: int | None = None  # what is left on the data folder's disk
    disk_total: int | None = None

    @property
    def saved_bytes(self) -> int:
        return self.bytes_if_copied - self.bytes


class _Groups:
    """Running totals per type, month and workspace: plain counters until the end (no frozen copies per row)."""

    def __init__(self) -> None:
        self.sums: dict[str, dict[str, list[int]]] = {"type": {}, "month": {}, "workspace": {}}

    def add(self, kind: str, month: str, workspace: str, *, local: int = 0, s3: int = 0, files: int = 1) -> None:
        for axis, key in (("type", kind), ("month", month), ("workspace", workspace)):
            acc = self.sums[axis].setdefault(key, [0, 0, 0])
            acc[0] += local
            acc[1] += s3
            acc[2] += files

    def slices(self, axis: str) -> dict[str, UsageSlice]:
        return {k: UsageSlice(*v) for k, v in sorted(self.sums[axis].items())}


def _grouping() -> tuple[Any, Any, Any]:
    month = func.strftime("%Y-%m", func.coalesce(Chat.created_at, ChatMedia.created_at))
    return media_type_sql(), month, Chat.workspace_id


def _workspace_names(db: Database) -> dict[int | None, str]:
    with db.session() as s:
        names: dict[int | None, str] = {wid: name or f"Workspace {wid}"
                                        for wid, name in s.execute(select(Workspace.id, Workspace.name))}
    names[None] = "No workspace"
    return names


def storage_usage(db: Database, storage_for: Callable[[str], Storage], *,
                  data_dir: Path | None = None) -> StorageUsage:
    """Storage used by completed media, every shared file counted once, split by type, month and workspace.

    Local files are told apart by inode (what the disk really holds), read a page at a time; only files
    with more names than a row and its index name are remembered, so memory stays small. S3 objects are
    told apart by key, in SQL. A local file that is gone costs nothing. With `data_dir`, the free space
    left on its disk too.
    """
    done = (ChatMedia.processing_status == MediaStatus.COMPLETED, ChatMedia.path.is_not(None))
    kind, month, workspace = _grouping()
    names = _workspace_names(db)
    groups = _Groups()
    local = storage_for(LocalStorage.location)
    media = files = total = copied = 0
    shared: set[tuple[int, int]] = set()
    after = 0
    while True:
        with db.session() as s:
            page = s.execute(select(ChatMedia.id, ChatMedia.path, kind, month, workspace)
                             .outerjoin(Chat, Chat.media_id == ChatMedia.id)
                             .where(*done, ChatMedia.location == LocalStorage.location, ChatMedia.id > after)
                             .order_by(ChatMedia.id).limit(_PAGE)).all()
        if not page:
            break
        after = page[-1][0]
        for _, path, row_kind, row_month, row_ws in page:
            p = local.local_path(path)
            try:
                st = os.stat(p) if p is not None else None
            except OSError:
                continue
            if st is None:
                continue
            media += 1
            copied += st.st_size
            if st.st_nlink > 2:  # names beyond this row's and the index's: another row may share it
                if (st.st_dev, st.st_ino) in shared:
                    continue
                shared.add((st.st_dev, st.st_ino))
            files += 1
            total += st.st_size
            groups.add(row_kind, row_month or "unknown", names.get(row_ws, f"Workspace {row_ws}"), local=st.st_size)
    local_bytes = total
    with db.session() as s:
        remote = select(ChatMedia.location, ChatMedia.path, func.count().label("n"),
                        func.max(ChatMedia.size).label("size"), func.min(ChatMedia.id).label("first")).where(
            *done, ChatMedia.location != LocalStorage.location).group_by(ChatMedia.location, ChatMedia.path).subquery()
        n, objects, size, size_all = s.execute(select(
            func.coalesce(func.sum(remote.c.n), 0), func.count(), func.coalesce(func.sum(remote.c.size), 0),
            func.coalesce(func.sum(remote.c.size * remote.c.n), 0))).one()
        # Each object in the group of the first row referring to it; grouped in SQLite, so a million objects
        # come back as a few hundred rows.
        remote_groups = s.execute(
            select(kind, month, workspace, func.count(), func.coalesce(func.sum(remote.c.size), 0))
            .select_from(remote).join(ChatMedia, ChatMedia.id == remote.c.first)
            .outerjoin(Chat, Chat.media_id == ChatMedia.id).group_by(kind, month, workspace)).all()
    for row_kind, row_month, row_ws, count, size_sum in remote_groups:
        groups.add(row_kind, row_month or "unknown", names.get(row_ws, f"Workspace {row_ws}"), s3=int(size_sum),
                   files=int(count))
    disk_free = disk_total = None
    if data_dir is not None:
        try:
            disk = shutil.disk_usage(data_dir)
            disk_free, disk_total = disk.free, disk.total
        except OSError:
            pass  # a data folder not created yet has no disk to speak of: the chart says "unknown"
    return StorageUsage(media=media + int(n), files=files + int(objects), bytes=total + int(size),
                        bytes_if_copied=copied + int(size_all), local_bytes=local_bytes, s3_bytes=int(size),
                        by_type=groups.slices("type"), by_month=groups.slices("month"),
                        by_workspace=groups.slices("workspace"), disk_free=disk_free, disk_total=disk_total)


def remove_media_file(db: Database, storage_for: Callable[[str], Storage], media_id: int) -> bool:
    """Remove the stored file of one media, never bytes another media still uses; returns whether it went.

    Only the file: what the row says afterwards (deleted by retention, moved to S3) is the caller's to write.
    A local name is a hard link, so the bytes stay while any other name holds them; a shared S3 object
    (or a path two rows share) stays while another row refers to it.
    """
    with db.session() as s:
        media = s.get(ChatMedia, media_id)
        if media is None or not media.path:
            return False
        path, location = media.path, media.location
        sha = (media.meta or {}).get("verified_sha256")
    return release_stored_file(db, storage_for, path=path, location=location, sha256=sha, media_id=media_id)


def release_stored_file(db: Database, storage_for: Callable[[str], Storage], *, path: str, location: str,
                        sha256: str | None, media_id: int | None = None) -> bool:
    """Remove a stored file one row no longer refers to, unless another row (not `media_id`) still does.

    Returns whether the name went. For a row that has already let go of its path (retention), `media_id`
    is None: every row still naming the file counts.
    """
    with db.session() as s:
        q = select(func.count()).where(ChatMedia.path == path, ChatMedia.location == location)
        if media_id is not None:
            q = q.where(ChatMedia.id != media_id)
        others = s.execute(q).scalar_one()
    if others:
        return False
    storage = storage_for(location)
    if isinstance(storage, LocalStorage):
        release_local(storage, path, sha256)
        return True
    delete = getattr(storage, "delete", None)
    if delete is None:
        raise StorageError(f"this storage cannot remove {path}")
    delete(path)
    return True
