"""The media library's view of shared files: what they cost on disk, and removing one row's file safely.

Identical bytes are stored once (`engine.storage.dedupe`); each `chat_media` row keeps its own name,
path and metadata. These functions answer for the rows: how much storage they really use, and how to
take one row's file away without taking it from another row.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from engine.db.models import ChatMedia, MediaStatus
from engine.db.session import Database
from engine.errors import StorageError
from engine.storage import LocalStorage, Storage
from engine.storage.dedupe import release_local

_PAGE = 5000


@dataclass(frozen=True)
class StorageUsage:
    media: int  # completed media with a stored file
    files: int  # distinct stored files: identical media share one
    bytes: int  # what those distinct files take (each shared file counted once)
    bytes_if_copied: int  # what they would take with a copy per media

    @property
    def saved_bytes(self) -> int:
        return self.bytes_if_copied - self.bytes


def storage_usage(db: Database, storage_for: Callable[[str], Storage]) -> StorageUsage:
    """Storage used by completed media, every shared file counted once.

    Local files are told apart by inode (what the disk really holds), read a page at a time; only files
    with more names than a row and its index name are remembered, so memory stays small. S3 objects are
    told apart by key, in SQL. A local file that is gone costs nothing.
    """
    done = (ChatMedia.processing_status == MediaStatus.COMPLETED, ChatMedia.path.is_not(None))
    local = storage_for(LocalStorage.location)
    media = files = total = copied = 0
    shared: set[tuple[int, int]] = set()
    after = 0
    while True:
        with db.session() as s:
            page = s.execute(select(ChatMedia.id, ChatMedia.path).where(
                *done, ChatMedia.location == LocalStorage.location, ChatMedia.id > after)
                .order_by(ChatMedia.id).limit(_PAGE)).all()
        if not page:
            break
        after = page[-1][0]
        for _, path in page:
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
    with db.session() as s:
        remote = select(ChatMedia.location, ChatMedia.path, func.count().label("n"),
                        func.max(ChatMedia.size).label("size")).where(
            *done, ChatMedia.location != LocalStorage.location).group_by(ChatMedia.location, ChatMedia.path).subquery()
        n, objects, size, size_all = s.execute(select(
            func.coalesce(func.sum(remote.c.n), 0), func.count(), func.coalesce(func.sum(remote.c.size), 0),
            func.coalesce(func.sum(remote.c.size * remote.c.n), 0))).one()
    return StorageUsage(media=media + int(n), files=files + int(objects), bytes=total + int(size),
                        bytes_if_copied=copied + int(size_all))


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
        others = s.execute(select(func.count()).where(
            ChatMedia.path == path, ChatMedia.location == location, ChatMedia.id != media_id)).scalar_one()
    if others:
        return False
    storage = storage_for(location)
    if isinstance(storage, LocalStorage):
        release_local(storage, path, sha)
        return True
    delete = getattr(storage, "delete", None)
    if delete is None:
        raise StorageError(f"this storage cannot remove {path}")
    delete(path)
    return True
