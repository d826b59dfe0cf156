"""Every media of every chat, for the console's Media view: filtered in SQL, read a page at a time.

`MediaFilter` is what the view's filter bar says; `count_media` and `media_page` answer it in one statement
each, newest media first (by id: the primary key orders 100,000 rows without a sort). `save_media` copies
stored files to a folder of the owner's choosing; `delete_media` removes files without ever removing bytes
another row still uses, and keeps each message (its media marked deleted by `engine.media.state`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.db.models import Chat, ChatMedia, Contact
from engine.db.session import Database
from engine.errors import MediaDeskError, StorageError
from engine.events import EventBus
from engine.ingest.filenames import sanitize_filename
from engine.media.dedupe import remove_media_file
from engine.media.limits import extension_for
from engine.media.state import MediaStates
from engine.media.thumbnails import remove_thumbnail
from engine.storage import Storage

log = logging.getLogger(__name__)
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
Progress = Callable[[int, int], None]  # (files done, files in all); raising stops the work


@dataclass(frozen=True)
class MediaFilter:
    """Which media the view shows; every field empty means all. Dates compare with the message's time."""

    kinds: tuple[str, ...] = ()  # message types: image, video, audio, document, sticker
    status: str | None = None  # a MediaStatus value
    reason: str | None = None  # a FailureReason value
    contact: str | None = None  # part of the contact's name or number
    contact_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    name: str | None = None  # part of the file name


@dataclass(frozen=True)
class MediaItem:
    """One media with its message and contact, as the Media view shows a row."""

    media_id: int
    message_id: int
    contact_id: int | None
    contact_name: str | None
    wa_id: str | None
    kind: str  # the message type
    mime: str | None
    name: str | None
    size: int | None
    status: str
    reason: str | None
    error: str | None
    path: str | None
    location: str
    thumbnail: str | None
    at: datetime  # the message's time


# The three metadata keys a row shows, extracted by SQLite: decoding every row's whole JSON in Python would
# hold the GIL the GUI thread needs while a page is read.
_COLUMNS = (ChatMedia.id, Chat.id, Chat.contact_id, Contact.name, Contact.wa_id, Chat.type, ChatMedia.type,
            ChatMedia.name, ChatMedia.size, ChatMedia.processing_status, ChatMedia.meta["reason"].as_string(),
            ChatMedia.meta["error"].as_string(), ChatMedia.meta["thumbnail"].as_string(), ChatMedia.path,
            ChatMedia.location, Chat.created_at)


def _item(r: Any) -> MediaItem:
    return MediaItem(media_id=r[0], message_id=r[1], contact_id=r[2], contact_name=r[3], wa_id=r[4], kind=r[5],
                     mime=r[6], name=r[7], size=r[8], status=str(r[9]), reason=r[10], error=r[11], thumbnail=r[12],
                     path=r[13], location=r[14] or "local", at=r[15])


def _where(f: MediaFilter) -> list[Any]:
    w: list[Any] = []
    if f.kinds:
        w.append(Chat.type.in_(f.kinds))
    if f.status:
        w.append(ChatMedia.processing_status == f.status)
    if f.reason:
        w.append(ChatMedia.meta["reason"].as_string() == f.reason)
    if f.contact_id is not None:
        w.append(Chat.contact_id == f.contact_id)
    if f.contact and f.contact.strip():
        like = f"%{f.contact.strip()}%"
        w.append(Chat.contact_id.in_(select(Contact.id).where(or_(Contact.name.ilike(like),
                                                                    Contact.wa_id.ilike(like)))))
    if f.since is not None:
        w.append(Chat.created_at >= f.since)
    if f.until is not None:
        w.append(Chat.created_at < f.until)
    if f.name and f.name.strip():
        w.append(ChatMedia.name.ilike(f"%{f.name.strip()}%"))
    return w


def count_media(s: Session, f: MediaFilter) -> int:
    q = select(func.count()).select_from(ChatMedia).join(Chat, Chat.media_id == ChatMedia.id)
    return int(s.execute(q.where(*_where(f))).scalar_one())


def media_page(s: Session, f: MediaFilter, *, limit: int, offset: int = 0,
               below_id: int | None = None) -> list[MediaItem]:
    """One page in two steps: the page's ids (the offset skips over index entries only), then its rows.

    With `below_id` (the last media of the page before) the page starts after it and `offset` is not used:
    an index seek instead of a walk over every row before the page, which at offset 99,800 of 100,000 was
    25-40 ms of a core that a console scrolling to the end takes from its own GUI thread on 2 cores."""
    ids = select(ChatMedia.id).select_from(ChatMedia).join(Chat, Chat.media_id == ChatMedia.id).where(*_where(f))
    ids = ids.where(ChatMedia.id < below_id) if below_id is not None else ids.offset(offset)
    page = ids.order_by(ChatMedia.id.desc()).limit(limit).scalar_subquery()
    q = (select(*_COLUMNS).select_from(ChatMedia).join(Chat, Chat.media_id == ChatMedia.id)
         .outerjoin(Contact, Contact.id == Chat.contact_id).where(ChatMedia.id.in_(page))
         .order_by(ChatMedia.id.desc()))
    return [_item(r) for r in s.execute(q)]


def media_items(s: Session, media_ids: Iterable[int]) -> dict[int, MediaItem]:
    ids = list(media_ids)
    if not ids:
        return {}
    q = (select(*_COLUMNS).select_from(ChatMedia).join(Chat, Chat.media_id == ChatMedia.id)
         .outerjoin(Contact, Contact.id == Chat.contact_id).where(ChatMedia.id.in_(ids)))
    return {r[0]: _item(r) for r in s.execute(q)}


def reasons_in_use(s: Session) -> list[str]:
    """The failure reasons some media carries now (the reason filter's choices)."""
    q = select(ChatMedia.meta["reason"].as_string()).where(ChatMedia.meta["reason"].as_string().is_not(None)).distinct()
    return sorted(r for r in s.execute(q).scalars() if r)


def _file_name(item: MediaItem) -> str:
    if item.name:
        return sanitize_filename(item.name)
    return f"{item.kind}-{item.media_id}.{extension_for(item.mime)}"


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        target = folder / f"{Path(name).stem} ({n}){Path(name).suffix}"
        n += 1
    return target


def save_media(db: Database, storage_for: Callable[[str], Storage], media_ids: Iterable[int], *, folder: Path,
               progress: Progress | None = None) -> tuple[list[Path], list[int]]:
    """Copy the stored files of `media_ids` into `folder` under their own names (never overwriting);
    returns the files written and the media that had no stored file. `progress` runs after each file."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaDeskError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
    ids = list(media_ids)
    with db.session() as s:
        items = media_items(s, ids)
    written: list[Path] = []
    missing: list[int] = []
    for i, mid in enumerate(ids, start=1):
        item = items.get(mid)
        if item is None or not item.path or item.status != "completed":
            missing.append(mid)
        else:
            target = _free_name(folder, _file_name(item))
            storage = storage_for(item.location)
            local = storage.local_path(item.path)
            try:
                if local is not None:
                    shutil.copyfile(local, target)
                else:
                    download_to = getattr(storage, "download_to", None)
                    if download_to is not None:
                        download_to(item.path, target)
                    else:
                        target.write_bytes(storage.read_bytes(item.path))
            except OSError as exc:
                target.unlink(missing_ok=True)
                raise StorageError(f"could not save {target.name}: {exc.strerror or exc}") from exc
            written.append(target)
        if progress is not None:
            progress(i, len(ids))
    return written, missing


def delete_media(db: Database, storage_for: Callable[[str], Storage], events: EventBus,
                 media_ids: Iterable[int]) -> list[int]:
    """Delete the stored files of `media_ids`; their messages stay, each media marked deleted. Bytes another
    row shares (identical files are stored once) stay for it. Returns the media deleted."""

    def remove_files(mid: int) -> None:
        with db.session() as s:
            m = s.get(ChatMedia, mid)
            location, thumbnail = (m.location, (m.meta or {}).get("thumbnail")) if m is not None else ("local", None)
        remove_media_file(db, storage_for, mid)
        try:
            remove_thumbnail(storage_for(location), thumbnail)
        except StorageError as exc:  # a stray thumbnail costs a few KB; the owner asked for the file to go
            log.warning("media %s: %s", mid, exc)

    return MediaStates(db, events).remove(media_ids, before=remove_files)
