"""One download attempt for one media, start to finish. The `chat_media` row is the truth.

Each attempt claims the row (pending -> processing), asks Graph for a fresh URL, streams the bytes to a
temporary file beside the destination while hashing and counting, verifies, sniffs, stores atomically and
marks the row completed. A failure either schedules another attempt (transient) or marks it failed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import select, update

from engine.config import Config
from engine.db.models import Chat, ChatMedia, MediaAttempt, MediaStatus, utcnow
from engine.db.session import Database
from engine.dbfaults import RETRY_UNTIL_GONE, fault_delay, media_fault
from engine.errors import MediaError, PermanentMediaError, StorageError, TransientMediaError
from engine.events import EventBus, MediaStatusChanged
from engine.media import graph
from engine.media.holders import holder, temp_name
from engine.media.limits import contradicts, extension_for, size_limit, sniff
from engine.storage import Storage

log = logging.getLogger(__name__)
CHUNK = 256 * 1024
META_RETENTION = timedelta(days=7)
PROGRESS_EVERY = 4 * 1024 * 1024


@dataclass
class Pipeline:
    """What a download needs; built once per process and shared by the worker threads."""

    cfg: Config
    db: Database
    storage: Storage
    events: EventBus
    schedule: Callable[[int, float], None]  # (media_id, delay seconds): enqueue another attempt


@dataclass(frozen=True)
class _Job:
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


def _claim(p: Pipeline, media_id: int) -> _Job | None:
    """pending -> processing, atomically; None when another task has it or it is already settled."""
    with p.db.session() as s:
        claimed = s.execute(
            update(ChatMedia)
            .where(ChatMedia.id == media_id, ChatMedia.processing_status == MediaStatus.PENDING)
            .values(processing_status=MediaStatus.PROCESSING, updated_at=utcnow())
        ).rowcount
        if not claimed:
            return None
        media = s.get(ChatMedia, media_id)
        chat = s.execute(select(Chat.type, Chat.workspace_id, Chat.created_at).where(Chat.media_id == media_id)).first()
        meta = dict(media.meta or {})
        attempt = int(meta.get("attempts", 0)) + 1
        now = utcnow()
        meta.update(attempts=attempt, started_at=now.isoformat(), holder=holder(now, p.cfg.download_timeout))
        meta.pop("next_attempt_at", None)
        media.meta = meta
        attempt_row = MediaAttempt(media_id=media_id, started_at=utcnow())
        s.add(attempt_row)
        s.flush()
        return _Job(
            media_id=media_id, wa_media_id=media.wa_media_id, mime=media.type, name=media.name,
            kind=chat.type if chat else None, workspace_id=chat.workspace_id if chat else 0,
            message_at=chat.created_at if chat else None, created_at=media.created_at, attempt=attempt,
            attempt_id=attempt_row.id,
        )


def _storage_key(job: _Job, ext: str) -> str:
    stem = Path(job.name).stem if job.name else (job.kind or "media")
    stem = re.sub(r"[^\w\-]+", "_", stem, flags=re.UNICODE).strip("_")[:80]
    # 80 letters can be 320 bytes; a file name (plus the temp suffix) must stay under 255 bytes.
    stem = stem.encode()[:120].decode("utf-8", "ignore") or "media"
    # The media id makes the name unique and stable: a repeated attempt lands on the same file.
    return (f"uploads/media/whatsapp/{job.workspace_id}/{job.created_at:%Y}/{job.created_at:%m}/"
            f"{stem}-{job.media_id}.{ext}")


def run_download(p: Pipeline, media_id: int) -> str:
    """Run one attempt for `media_id`; returns the final status (or 'skipped' when not claimable)."""
    job = _claim(p, media_id)
    if job is None:
        return "skipped"
    p.events.emit(MediaStatusChanged(media_id, MediaStatus.PROCESSING))
    started = time.monotonic()
    try:
        if not job.wa_media_id:
            raise PermanentMediaError("the message carried no media id", reason="gone")
        stored, size, digest, mime = _fetch_and_store(p, job, started)
    except MediaError as exc:
        return _failed_attempt(p, job, exc)
    except StorageError as exc:
        return _failed_attempt(p, job, media_fault(exc, storage=True))
    except Exception as exc:  # a bug of ours: keep the media retryable and the trace in the log
        log.exception("unexpected error downloading media %s", media_id)
        return _failed_attempt(p, job, TransientMediaError(f"internal error: {exc}", reason="internal"))
    now = utcnow()
    with p.db.session() as s:
        media = s.get(ChatMedia, media_id)
        meta = dict(media.meta or {})
        for k in ("error", "reason", "failed_at", "next_attempt_at", "holder"):
            meta.pop(k, None)
        meta.update(verified_sha256=digest, duration_ms=round((time.monotonic() - started) * 1000))
        media.meta = meta
        media.path, media.location, media.size = stored.path, stored.location, size
        media.type = media.type or mime
        media.processing_status = MediaStatus.COMPLETED
        media.processed_at = now
        _finish_attempt(s, job, "completed", None, size)
    log.info("media %s completed: %s (%d bytes)", media_id, stored.path, size)
    p.events.emit(MediaStatusChanged(media_id, MediaStatus.COMPLETED))
    return MediaStatus.COMPLETED


def _fetch_and_store(p: Pipeline, job: _Job, started: float):
    cfg = p.cfg
    info = graph.fetch_media_info(cfg.graph_url, cfg.graph_version, job.wa_media_id, cfg.access_token)
    limit = size_limit(job.kind)
    if info.file_size is not None and info.file_size > limit:
        raise PermanentMediaError(
            f"the file is too large: {info.file_size:,} bytes, over the {limit:,} byte limit for {job.kind}",
            reason="too_large")
    declared = job.mime or info.mime_type
    key = _storage_key(job, extension_for(declared))
    folder = p.storage.temp_dir(key)
    temp = folder / temp_name(Path(key).name, uuid.uuid4().hex[:8])
    try:
        size, digest, head = _stream(p, job, info, temp, limit, started)
        if info.file_size is not None and size != info.file_size:
            raise TransientMediaError(f"the download was cut short: {size:,} of {info.file_size:,} bytes",
                                      reason="truncated")
        if not graph.digest_matches(info.sha256, digest):
            raise TransientMediaError("the file's sha256 does not match WhatsApp's; it will be fetched again",
                                      reason="checksum")
        sniffed = sniff(head)
        if contradicts(declared, sniffed):
            raise PermanentMediaError(f"the file claims to be {declared} but its content is {sniffed}",
                                      reason="mime_mismatch")
        stored = p.storage.store(temp, key, content_type=(declared or sniffed or "application/octet-stream"))
        return stored, size, digest.hex(), declared or sniffed
    finally:
        try:
            temp.unlink(missing_ok=True)
        except OSError as exc:  # never let cleanup hide the error that brought us here
            log.warning("could not remove %s: %s", temp, exc)


def _stream(p: Pipeline, job: _Job, info: graph.MediaInfo, temp: Path, limit: int, started: float):
    """Stream to `temp` in chunks, hashing as it goes; memory stays flat whatever the size."""
    timeout = p.cfg.download_timeout
    try:
        resp = graph.session().get(info.url, headers={"Authorization": f"Bearer {p.cfg.access_token}"},
                                   stream=True, timeout=(graph.CONNECT_TIMEOUT, graph.READ_TIMEOUT))
    except requests.Timeout as exc:
        raise TransientMediaError(f"the download timed out: {exc}", reason="timeout") from exc
    except requests.RequestException as exc:
        raise TransientMediaError(f"could not download the file: {exc}", reason="network") from exc
    with resp:
        if resp.status_code in (401, 403, 404, 410):
            raise TransientMediaError(f"the download link expired or was refused ({resp.status_code}); "
                                      "the next attempt asks WhatsApp for a new one", reason="expired")
        if resp.status_code == 429:
            raise TransientMediaError("the download server asked us to slow down (429)", reason="rate_limited",
                                      retry_after=graph.retry_after(resp))
        if resp.status_code != 200:
            raise TransientMediaError(f"the download answered {resp.status_code}", reason="server",
                                      retry_after=graph.retry_after(resp))
        h = hashlib.sha256()
        size, head, next_progress = 0, b"", PROGRESS_EVERY
        total = info.file_size
        try:
            with open(temp, "wb", buffering=0) as out:  # whole chunks: no need for a copy into a buffer
                for chunk in resp.iter_content(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise PermanentMediaError(
                            f"the file is too large: more than {limit:,} bytes for {job.kind}", reason="too_large")
                    if time.monotonic() - started > timeout:
                        raise TransientMediaError(f"the download took longer than {timeout:.0f} s", reason="timeout")
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    h.update(chunk)
                    _write_all(out, chunk)
                    if size >= next_progress:
                        next_progress += PROGRESS_EVERY
                        p.events.emit(MediaStatusChanged(job.media_id, MediaStatus.PROCESSING,
                                                         bytes_done=size, bytes_total=total))
                os.fsync(out.fileno())
        except requests.RequestException as exc:
            got = f"after {size:,} bytes" if size else "before its first chunk"
            raise TransientMediaError(f"the download broke off {got}: {exc}", reason="truncated") from exc
        except OSError as exc:
            raise media_fault(exc) or TransientMediaError(f"could not write the file: {exc.strerror or exc}",
                                                          reason="storage") from exc
    return size, h.digest(), head


def _write_all(out, chunk: bytes) -> None:
    # An unbuffered write is one write(2), which may take less than all of it; the hash and byte count
    # describe the whole chunk, so the file must get the whole chunk too.
    view = memoryview(chunk)
    while view:
        view = view[out.write(view):]


def _finish_attempt(s, job: _Job, outcome: str, error: str | None, size: int | None) -> None:
    s.execute(update(MediaAttempt).where(MediaAttempt.id == job.attempt_id)
              .values(finished_at=utcnow(), outcome=outcome, error=error, bytes=size))


def _expired_at_meta(job: _Job) -> bool:
    return job.message_at is not None and utcnow() - job.message_at > META_RETENTION


def _failed_attempt(p: Pipeline, job: _Job, exc: MediaError) -> str:
    delays = p.cfg.retry_delays
    message, reason = str(exc), exc.reason
    if _expired_at_meta(job) and reason in ("gone", "expired", "server", *RETRY_UNTIL_GONE):
        exc = PermanentMediaError("expired at Meta: WhatsApp keeps received media for 7 days only",
                                  reason="expired_at_meta")
        message, reason = str(exc), exc.reason
    retry = isinstance(exc, TransientMediaError) and (job.attempt <= len(delays) or reason in RETRY_UNTIL_GONE)
    now = utcnow()
    with p.db.session() as s:
        media = s.get(ChatMedia, job.media_id)
        meta = dict(media.meta or {})
        meta.update(error=message, reason=reason, attempts=job.attempt)
        meta.pop("holder", None)
        if retry:
            delay = delays[min(job.attempt, len(delays)) - 1] if delays else 0.0
            if reason in RETRY_UNTIL_GONE:
                delay = max(delay, fault_delay(job.attempt))
            if isinstance(exc, TransientMediaError) and exc.retry_after is not None:
                delay = max(delay, exc.retry_after)  # the server said when: asking sooner only fails again
            meta["next_attempt_at"] = (now + timedelta(seconds=delay)).isoformat()
            media.processing_status = MediaStatus.PENDING
        else:
            meta["failed_at"] = now.isoformat()
            media.processing_status = MediaStatus.FAILED
        media.meta = meta
        _finish_attempt(s, job, "retry" if retry else "failed", message, None)
    if retry:
        log.warning("media %s attempt %d failed (%s); retrying in %.0f s", job.media_id, job.attempt, message, delay)
        p.schedule(job.media_id, delay)
        p.events.emit(MediaStatusChanged(job.media_id, MediaStatus.PENDING, error=message, reason=reason))
        return MediaStatus.PENDING
    log.error("media %s failed after %d attempt(s): %s", job.media_id, job.attempt, message)
    p.events.emit(MediaStatusChanged(job.media_id, MediaStatus.FAILED, error=message, reason=reason))
    return MediaStatus.FAILED
