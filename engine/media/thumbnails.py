"""Persistent thumbnails: a small picture of each completed image, sticker, video and PDF, stored once.

The download path stays as fast as it was: completing a media only enqueues `thumbnail_media` as a
housekeeping task (downloads go first), which renders the picture from the stored file and stores it
beside it: `{data_dir}/thumbnails/...` on local disk, the `thumbnails/` prefix of the bucket on S3. Its
key goes into the row's JSON `metadata` as `thumbnail` (a metadata-only update: the status is
`engine.media.state`'s), so the console shows a bubble or a Media view row without decoding the original.

Images and stickers go through Pillow (an animated webp from its first frame), a video's poster frame
through PyAV, a PDF's first page through pypdfium2. A file none of them can read has no thumbnail and
the console shows its type icon; that is not an error of the media.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from engine.db.models import Chat, ChatMedia, MediaStatus
from engine.db.session import Database
from engine.errors import StorageError
from engine.storage import LocalStorage, Storage

log = logging.getLogger(__name__)
BACKFILL_BATCH = 200  # media without a thumbnail (completed before thumbnails existed) queued per run
NONE_KEY = "thumbnail_none"  # set when no renderer could read the file: the backfill does not try it again
PREFIX = "thumbnails"
BOX = (320, 320)  # the largest box a bubble or a grid cell shows, at 1x; 2x screens scale it up a little
META_KEY = "thumbnail"
_pdf_lock = threading.Lock()  # pdfium is not thread-safe; the housekeeping workers are threads


def thumbnail_key(media_id: int, ext: str) -> str:
    """Where a media's thumbnail lives, relative to the data dir (local) or the bucket (S3)."""
    return f"{PREFIX}/{media_id // 1000:04d}/{media_id}.{ext}"


def kind_of(mime: str | None, message_type: str | None) -> str | None:
    """Which renderer fits: 'image' (photos, stickers), 'video', 'pdf', or None (no thumbnail)."""
    mime = (mime or "").split(";")[0].strip().lower()
    if mime.startswith("image/") or message_type == "sticker":
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime == "application/pdf":
        return "pdf"
    return None


def render(path: Path, kind: str) -> tuple[bytes, str] | None:
    """The thumbnail's bytes and extension ("jpg", or "png" where the picture has transparency), or None."""
    from PIL import Image, ImageOps

    if kind == "image":
        with Image.open(path) as im:
            im.seek(0)  # an animated webp or gif: its first frame
            if im.format == "JPEG":
                im.draft("RGB", BOX)  # let libjpeg decode at 1/2, 1/4 or 1/8: most of the work saved
            picture = ImageOps.exif_transpose(im.copy())
    elif kind == "video":
        picture = _video_frame(path)
    elif kind == "pdf":
        picture = _pdf_page(path)
    else:
        return None
    if picture is None:
        return None
    picture.thumbnail(BOX)
    buf = io.BytesIO()
    if picture.mode in ("RGBA", "LA", "P") and _has_alpha(picture):
        picture.convert("RGBA").save(buf, "PNG", optimize=False)
        return buf.getvalue(), "png"
    picture.convert("RGB").save(buf, "JPEG", quality=82)
    return buf.getvalue(), "jpg"


def _has_alpha(picture: Any) -> bool:
    if picture.mode == "P":
        return "transparency" in picture.info
    return picture.getchannel("A").getextrema()[0] < 255


def _video_frame(path: Path) -> Any:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            for frame in container.decode(video=0):
                return frame.to_image()
    except (av.FFmpegError, OSError) as exc:
        log.info("no poster frame for %s: %s", path.name, exc)
    return None


def _pdf_page(path: Path) -> Any:
    import pypdfium2 as pdfium

    with _pdf_lock:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            log.info("no first page for %s: %s", path.name, exc)
            return None
        try:
            if len(pdf) == 0:
                return None
            page = pdf[0]
            width, height = page.get_size()
            scale = min(BOX[0] / max(width, 1), BOX[1] / max(height, 1), 2.0)
            return page.render(scale=scale).to_pil()
        finally:
            pdf.close()


def make_thumbnail(db: Database, storage_for: Callable[[str], Storage], media_id: int) -> str | None:
    """Render and store the thumbnail of one completed media; returns its key (None: nothing to show).

    A media that already has one keeps it. Safe to run twice at once: both write the same key.
    """
    with db.session() as s:
        row = s.execute(select(ChatMedia.path, ChatMedia.location, ChatMedia.type, ChatMedia.meta,
                               ChatMedia.processing_status, Chat.type)
                        .outerjoin(Chat, Chat.media_id == ChatMedia.id).where(ChatMedia.id == media_id)).first()
    if row is None or row[4] != MediaStatus.COMPLETED or not row[0]:
        return None
    path, location, mime, meta, _, message_type = row
    if (meta or {}).get(META_KEY):
        return meta[META_KEY]
    kind = kind_of(mime, message_type)
    if kind is None:
        return None
    storage = storage_for(location)
    local = storage.local_path(path)
    fetched: Path | None = None
    try:
        if local is None:  # S3: the renderers want a file (PyAV and pdfium seek in it)
            fd, name = tempfile.mkstemp(prefix="mediadesk-thumb-", suffix=Path(path).suffix)
            os.close(fd)
            fetched = Path(name)
            download_to = getattr(storage, "download_to", None)
            if download_to is not None:
                download_to(path, fetched)
            else:
                fetched.write_bytes(storage.read_bytes(path))
            local = fetched
        try:
            made = render(local, kind)
        except Exception as exc:  # a file a decoder chokes on (corrupt, exotic): no thumbnail, not a failure
            log.info("no thumbnail for media %s (%s): %s", media_id, kind, exc)
            made = None
        if made is None:
            _record(db, media_id, NONE_KEY, True)
            return None
        data, ext = made
        key = thumbnail_key(media_id, ext)
        _store(storage, key, data)
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
    _record(db, media_id, META_KEY, key)
    return key


def _record(db: Database, media_id: int, name: str, value: Any) -> None:
    with db.session() as s:
        # Only the one key, in SQL: a status transition committed meanwhile keeps its own metadata.
        s.execute(update(ChatMedia).where(ChatMedia.id == media_id)
                  .values(meta=db.backend.json_with(ChatMedia.meta, name, value)))


def without_thumbnail(db: Database, *, limit: int = BACKFILL_BATCH) -> list[int]:
    """Completed media of a kind that has thumbnails and none yet (nor a file found unreadable), newest first:
    what was downloaded before thumbnails existed, or whose thumbnail task a flush dropped."""
    meta = ChatMedia.meta
    # The kinds kind_of() renders, in SQL: a year of voice notes must not hide the photos behind them.
    renderable = or_(ChatMedia.type.like("image/%"), ChatMedia.type.like("video/%"),
                     ChatMedia.type.like("application/pdf%"), Chat.type == "sticker")
    with db.session() as s:
        return list(s.execute(
            select(ChatMedia.id).outerjoin(Chat, Chat.media_id == ChatMedia.id)
            .where(ChatMedia.processing_status == MediaStatus.COMPLETED, ChatMedia.path.is_not(None), renderable,
                   meta[META_KEY].as_string().is_(None), meta[NONE_KEY].as_string().is_(None))
            .order_by(ChatMedia.id.desc()).limit(limit)).scalars())


def schedule_backfill(huey: Any, run: Callable[[], object], *, priority: int) -> Callable[[], object]:
    """Register the backfill as a housekeeping task on `huey`; returns `enqueue()`. Its query reads every
    completed row in the worst case: a worker runs it, never the engine's start."""

    @huey.task(priority=priority, name="backfill_thumbnails")
    def backfill_thumbnails() -> None:
        run()

    return backfill_thumbnails


def _store(storage: Storage, key: str, data: bytes) -> None:
    if isinstance(storage, LocalStorage):
        target = storage.data_dir / key
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(data)
            os.replace(temp, target)  # a reader sees the whole picture or none
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageError(f"could not save the thumbnail {target.name}: {exc.strerror or exc}") from exc
        return
    with tempfile.NamedTemporaryFile(prefix="mediadesk-thumb-", delete=False) as fh:
        fh.write(data)
    storage.store(Path(fh.name), key, content_type="image/png" if key.endswith(".png") else "image/jpeg")


def remove_thumbnail(storage: Storage, key: str | None) -> None:
    """Drop a stored thumbnail (its media was deleted); one that is already gone is fine."""
    if not key:
        return
    if isinstance(storage, LocalStorage):
        try:
            (storage.data_dir / key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not remove the thumbnail {key}: {exc.strerror or exc}") from exc
        return
    delete = getattr(storage, "delete", None)
    if delete is not None:
        delete(key)


def schedule_thumbnails(huey: Any, make: Callable[[int], object], *, priority: int) -> Callable[[int], None]:
    """Register the housekeeping task on `huey`; returns `enqueue(media_id)` for the download's completion."""

    @huey.task(priority=priority, name="thumbnail_media")
    def thumbnail_media(media_id: int) -> None:
        make(media_id)

    return thumbnail_media
