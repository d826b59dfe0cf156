"""A chat handed over: one self-contained HTML transcript, every media file of the contact beside it.

`export_chat` writes `DIR/chat-<number>.html` and `DIR/files/...` (or the same inside `DIR.zip`). The page
needs nothing but the folder: no script, no web font, no link to anything but its own files. Everything
the sender wrote is HTML-escaped. `media_link` gives a time-limited link to a media stored on S3.
"""

from __future__ import annotations

import html
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from engine.db import queries
from engine.db.models import Contact
from engine.db.queries import MediaView, MessageView
from engine.db.session import Database
from engine.errors import MediaDeskError, StorageError
from engine.ingest.filenames import sanitize_filename
from engine.media.limits import extension_for
from engine.storage import Storage

log = logging.getLogger(__name__)
FILES_DIR = "files"
LINK_EXPIRES = timedelta(days=7)  # also the longest a SigV4-signed S3 link can live

Progress = Callable[[int, int], None]  # (media files done, media files in all)


@dataclass(frozen=True)
class ExportResult:
    page: Path  # the HTML file; inside `archive` when zipped (then a name in the archive)
    archive: Path | None
    messages: int
    files: int  # media files exported
    missing: tuple[int, ...]  # media ids with no file to export (not downloaded, failed, gone)

    def summary(self) -> str:
        where = self.archive or self.page
        gaps = f", {len(self.missing)} media without a file" if self.missing else ""
        return f"exported {self.messages} messages and {self.files} media files to {where}{gaps}"


def export_chat(db: Database, storage_for: Callable[[str], Storage], *, out: Path, wa_id: str | None = None,
                contact_id: int | None = None, zip: bool = False, progress: Progress | None = None) -> ExportResult:
    """Export one contact's chat (by WhatsApp number, or contact id) to the folder `out`, or to `out`.zip.

    The folder must be new or empty: an export never overwrites files. `progress(done, total)` is
    called after each media file, on the calling thread; an exception it raises (the user cancelled)
    stops the export and leaves nothing behind.
    """
    name, number, messages = _load(db, wa_id=wa_id, contact_id=contact_id)
    out = Path(out)
    archive = (out if out.suffix.lower() == ".zip" else out.with_name(out.name + ".zip")) if zip else None
    if archive is not None and archive.exists():
        raise MediaDeskError(f"{archive} already exists; choose another name")
    if archive is None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MediaDeskError(f"{out} is not an empty folder; choose a new one")
    target = archive or out
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and moved in at the end: a failed export (a full disk) leaves no half chat behind.
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".mediadesk-export-"))
    try:
        page, files, missing = _write(work, storage_for, name, number, messages, progress)
        if archive is not None:
            _zip(work, archive)
            page = Path(page.name)
        else:
            if out.exists():
                out.rmdir()
            os.replace(work, out)
            page = out / page.name
    except OSError as exc:
        raise MediaDeskError(f"could not write the export to {target}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(page=page, archive=archive, messages=len(messages), files=files, missing=missing)


def media_link(db: Database, storage_for: Callable[[str], Storage], media_id: int, *,
               expires: timedelta = LINK_EXPIRES) -> str:
    """A link to a media stored on S3 that anyone can open until it expires (7 days at most)."""
    seconds = int(expires.total_seconds())
    if not 0 < seconds <= int(LINK_EXPIRES.total_seconds()):
        raise ValueError(f"a link lasts from 1 second to 7 days, not {expires}")
    with db.session() as s:
        m = queries.media(s, media_id)
    if m is None or not m.path or m.status != "completed":
        raise StorageError(f"media {media_id} has no stored file to link to")
    sign = getattr(storage_for(m.location), "presigned_url", None)
    if sign is None:
        raise StorageError("only media stored on S3 can be shared as a link; this one is on this computer")
    return sign(m.path, expires_in=seconds, filename=m.name)


# -- reading
def _load(db: Database, *, wa_id: str | None, contact_id: int | None) -> tuple[str | None, str, list[MessageView]]:
    if (wa_id is None) == (contact_id is None):
        raise ValueError("export_chat takes a wa_id or a contact_id")
    if wa_id is not None:  # "+1 555-000-2222" as the owner writes it is 15550002222 to WhatsApp
        wa_id = "".join(ch for ch in wa_id if ch.isdigit()) or wa_id
    with db.session() as s:
        q = select(Contact.id, Contact.name, Contact.wa_id)
        q = q.where(Contact.wa_id == wa_id) if wa_id is not None else q.where(Contact.id == contact_id)
        contacts = s.execute(q.order_by(Contact.id)).all()
        if not contacts:
            raise MediaDeskError(f"no chat with {wa_id or f'contact {contact_id}'}")
        # One number can be a contact in several workspaces (numbers of the business): one chat with it.
        messages = [m for c in contacts for m in queries.conversation(s, c.id, limit=None)]
    messages.sort(key=lambda m: (m.created_at, m.id))
    name = next((c.name for c in contacts if c.name), None)
    return name, contacts[0].wa_id, messages


# -- writing
def _write(folder: Path, storage_for: Callable[[str], Storage], name: str | None, number: str,
           messages: list[MessageView], progress: Progress | None) -> tuple[Path, int, tuple[int, ...]]:
    with_media = [m for m in messages if m.media is not None]
    files: dict[int, str] = {}  # media id -> path relative to the page
    missing: list[int] = []
    for i, msg in enumerate(with_media, 1):
        media = msg.media
        assert media is not None
        rel = _copy(folder, storage_for, msg, media)
        if rel is None:
            missing.append(media.id)
        else:
            files[media.id] = rel
        if progress is not None:
            progress(i, len(with_media))
    page = folder / f"chat-{sanitize_filename(number, fallback='contact')}.html"
    page.write_text(render_page(name, number, messages, files), encoding="utf-8")
    return page, len(files), tuple(missing)


def _copy(folder: Path, storage_for: Callable[[str], Storage], msg: MessageView, media: MediaView) -> str | None:
    if media.status != "completed" or not media.path:
        return None
    base = sanitize_filename(media.name, fallback=msg.type)
    if "." not in base:
        base = f"{base}.{extension_for(media.mime)}"
    rel = f"{FILES_DIR}/{media.id}-{base}"  # the id keeps two "photo.jpg" apart
    dest = folder / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = storage_for(media.location)
        local = storage.local_path(media.path)
        download_to = getattr(storage, "download_to", None)
        if local is not None:
            shutil.copyfile(local, dest)  # a copy, not a link: the export must not share the library's bytes
        elif download_to is not None:
            download_to(media.path, dest)
        else:
            dest.write_bytes(storage.read_bytes(media.path))
    except (StorageError, OSError) as exc:
        log.warning("export: media %s has no file to copy: %s", media.id, exc)
        dest.unlink(missing_ok=True)
        return None
    return rel


def _zip(folder: Path, archive: Path) -> None:
    temp = archive.with_name(f".{archive.name}.part")
    with zipfile.ZipFile(temp, "w") as zf:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = f.relative_to(folder).as_posix()
            # Photos and videos are compressed already: deflating them only costs time.
            zf.write(f, rel, compress_type=zipfile.ZIP_STORED if rel.startswith(FILES_DIR + "/")
                     else zipfile.ZIP_DEFLATED)
    os.replace(temp, archive)


# -- the page
_STYLE = """
body{margin:0;background:#efeae2;font:15px/1.4 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111b21}
header{background:#008069;color:#fff;padding:14px 20px}
header h1{margin:0;font-size:18px}header p{margin:2px 0 0;opacity:.85}
main{max-width:820px;margin:0 auto;padding:12px 16px 40px}
.day{text-align:center;margin:14px 0}
.day span{background:#fff;border-radius:8px;padding:4px 10px;font-size:13px;color:#54656f}
.msg{display:flex;margin:4px 0}.msg.out{justify-content:flex-end}
.bubble{max-width:75%;background:#fff;border-radius:8px;padding:6px 9px 4px;box-shadow:0 1px .5px rgba(11,20,26,.13)}
.out .bubble{background:#d9fdd3}
.text{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.kind{color:#54656f;font-style:italic}
.media img{display:block;max-width:100%;max-height:420px;border-radius:6px}
.media video{display:block;max-width:100%;border-radius:6px}.media audio{display:block;width:280px}
.file{display:block;margin-top:2px}.missing{margin:0;color:#8696a0;font-style:italic}
.meta{text-align:right;font-size:11px;color:#667781;margin-top:2px}
.ticks{margin-left:4px;letter-spacing:-3px}.ticks.read{color:#53bdeb}.ticks.failed{color:#ea0038;letter-spacing:0}
"""
_KINDS = {"image": "Photo", "video": "Video", "audio": "Audio", "voice": "Voice message", "sticker": "Sticker",
          "document": "Document", "location": "Location", "contacts": "Contact", "reaction": "Reaction",
          "unsupported": "Unsupported message", "order": "Order", "button": "Button", "interactive": "Reply"}
_WHY_MISSING = {
    "gone": "deleted by the sender or no longer on WhatsApp", "too_large": "the file is too large",
    "expired_at_meta": "expired: WhatsApp keeps media for 7 days", "file_damaged": "the stored file is damaged",
    "file_removed": "the stored file was removed", "mime_mismatch": "the file was not what it claimed to be",
}
_TICKS = {"sent": ("\u2713", "sent", "Sent"), "delivered": ("\u2713\u2713", "delivered", "Delivered"),
          "read": ("\u2713\u2713", "read", "Read"), "played": ("\u2713\u2713", "read", "Played"),
          "failed": ("!", "failed", "Not delivered")}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _local(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC).astimezone()  # stored as naive UTC; the reader reads their own time


def render_page(name: str | None, number: str, messages: list[MessageView], files: dict[int, str]) -> str:
    """The transcript as one HTML page; `files` maps media ids to their paths relative to the page."""
    title = f"{name} (+{number})" if name else f"+{number}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Chat with {_e(title)}</title><style>{_STYLE}</style></head><body>",
             f"<header><h1>{_e(title)}</h1><p>{len(messages)} messages, exported "
             f"{_e(datetime.now().astimezone().strftime('%d %B %Y %H:%M'))}</p></header><main>"]
    day = None
    for msg in messages:
        at = _local(msg.created_at)
        if at.date() != day:
            day = at.date()
            parts.append(f'<div class="day"><span>{_e(at.strftime("%A, %d %B %Y"))}</span></div>')
        parts.append(_bubble(msg, at, files))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _bubble(msg: MessageView, at: datetime, files: dict[int, str]) -> str:
    side = "out" if msg.direction == "out" else "in"
    body = []
    if msg.meta.get("revoked_at"):
        body.append('<p class="text kind">This message was deleted</p>')
    else:
        if msg.media is not None:
            body.append(_media(msg, msg.media, files.get(msg.media.id)))
        text = msg.body
        if msg.media is not None and text == msg.media.name:
            text = None  # a document's name stands in for a caption: it is on the file link already
        if text:
            label = _KINDS.get(msg.type) if msg.media is None and msg.type != "text" else None
            kind = f'<span class="kind">{_e(label)}:</span> ' if label else ""
            body.append(f'<p class="text">{kind}{_e(text)}</p>')
        elif msg.media is None:
            body.append(f'<p class="text kind">{_e(_KINDS.get(msg.type, "Message"))}</p>')
    edited = " edited" if msg.meta.get("edited_at") else ""
    ticks = ""
    if side == "out" and msg.status in _TICKS:
        mark, css, words = _TICKS[msg.status]
        ticks = f'<span class="ticks {css}" title="{words}" aria-label="{words}">{mark}</span>'
    when = f'<time datetime="{_e(at.isoformat())}">{_e(at.strftime("%H:%M"))}</time>'
    meta = f'<div class="meta">{when}{edited}{ticks}</div>'
    return f'<div class="msg {side}" id="m{msg.id}"><div class="bubble">{"".join(body)}{meta}</div></div>'


def _media(msg: MessageView, media: MediaView, rel: str | None) -> str:
    kind = _KINDS.get(msg.type, "File")
    if rel is None:
        if media.status in ("pending", "processing"):
            why = "not downloaded yet"
        elif media.status == "removed":
            why = f"removed on {(media.removed_at or '')[:10]} by the retention policy"
        else:  # the engine's own error is for the owner and the log, not for whoever reads the export
            why = _WHY_MISSING.get(media.reason or "", "it could not be downloaded")
        return f'<p class="missing">{_e(kind)}: not available ({_e(why)})</p>'
    href = _e(quote(rel))
    label = _e(media.name or os.path.basename(rel))
    link = f'<a class="file" href="{href}" download>{label}</a>'
    mime = (media.mime or "").split(";")[0].strip().lower()
    if msg.type in ("image", "sticker") or (mime.startswith("image/") and msg.type != "document"):
        return f'<div class="media"><a href="{href}"><img src="{href}" alt="{_e(media.name or kind)}"></a></div>'
    if msg.type == "video":
        return f'<div class="media"><video controls preload="metadata" src="{href}"></video>{link}</div>'
    if msg.type in ("audio", "voice"):
        return f'<div class="media"><audio controls preload="none" src="{href}"></audio>{link}</div>'
    size = f" ({_human(media.size)})" if media.size else ""
    return f'<div class="media">\U0001F4C4 {link}<span class="kind">{_e(size)}</span></div>'


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
