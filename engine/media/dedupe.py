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

    Local files are told apart by inode (what the disk really holds, also for files shared before the
    rows knew it); S3 objects by key. A file that is gone costs nothing.
    """
    with db.session() as s:
        rows = s.execute(select(ChatMedia.path, ChatMedia.location, ChatMedia.size).where(
            ChatMedia.processing_status == MediaStatus.COMPLETED, ChatMedia.path.is_not(None))).all()
    seen: set[tuple[object, ...]] = set()
    media = total = copied = 0
    for path, location, size in rows:
        local = storage_for(location).local_path(path) if location == LocalStorage.location else None
        if local is not None:
            try:
                st = os.stat(local)
            except OSError:
                continue
            ident: tuple[object, ...] = ("local", st.st_dev, st.st_ino)
            size = st.st_size
        else:
            ident = (location, path)
            size = int(size or 0)
        media += 1
        copied += size
        if ident not in seen:
            seen.add(ident)
            total += size
    return StorageUsage(media=media, files=len(seen), bytes=total, bytes_if_copied=copied)


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
