"""One download attempt for one media, start to finish. The `chat_media` row is the truth.

Each attempt claims the row (pending -> processing), asks Graph for a fresh URL, streams the bytes to a
temporary file beside the destination while hashing and counting, verifies, sniffs, stores atomically and
marks the row completed. A failure either schedules another attempt (transient) or marks it failed.
Every change of the row's status goes through engine/media/state.py.
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
from datetime import timedelta
from pathlib import Path

import requests

from engine.config import Config
from engine.db.models import MediaStatus, utcnow
from engine.db.session import Database
from engine.dbfaults import RETRY_UNTIL_GONE, fault_delay, media_fault
from engine.errors import MediaError, PermanentMediaError, StorageError, TransientMediaError
from engine.events import EventBus
from engine.media import graph
from engine.media.holders import temp_name
from engine.media.limits import SNIFF_BYTES, contradicts, extension_for, size_limit, sniff
from engine.media.reasons import FailureReason as R
from engine.media.state import Claim, MediaStates
from engine.storage import Storage
from engine.storage.dedupe import link_copy, store_once, stored_copy

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
    # Runs after the completion commit (the thumbnail's housekeeping task): never inside the download's time.
    after_complete: Callable[[int], None] | None = None


def _storage_key(job: Claim, ext: str) -> str:
    stem = Path(job.name).stem if job.name else (job.kind or "media")
    stem = re.sub(r"[^\w\-]+", "_", stem, flags=re.UNICODE).strip("_")[:80]
    # 80 letters can be 320 bytes; a file name (plus the temp suffix) must stay under 255 bytes.
    stem = stem.encode()[:120].decode("utf-8", "ignore") or "media"
    # The media id makes the name unique and stable: a repeated attempt lands on the same file.
    return (f"uploads/media/whatsapp/{job.workspace_id}/{job.created_at:%Y}/{job.created_at:%m}/"
            f"{stem}-{job.media_id}.{ext}")


def run_download(p: Pipeline, media_id: int) -> str:
    """Run one attempt for `media_id`; returns the final status (or 'skipped' when not claimable)."""
    states = MediaStates(p.db, p.events)
    job = states.claim(media_id, download_timeout=p.cfg.download_timeout)
    if job is None:
        return "skipped"
    started = time.monotonic()
    try:
        if not job.wa_media_id:
            raise PermanentMediaError("the message carried no media id", reason=R.GONE)
        stored, size, digest, mime = _fetch_and_store(p, states, job, started)
    except MediaError as exc:
        return _failed_attempt(p, states, job, exc)
    except StorageError as exc:
        return _failed_attempt(p, states, job, media_fault(exc, storage=True))
    except Exception as exc:  # a bug of ours: keep the media retryable and the trace in the log
        log.exception("unexpected error downloading media %s", media_id)
        return _failed_attempt(p, states, job, TransientMediaError(f"internal error: {exc}", reason=R.INTERNAL))
    states.complete(job, path=stored.path, location=stored.location, size=size, mime=mime, sha256_hex=digest,
                    duration_ms=round((time.monotonic() - started) * 1000))
    log.info("media %s completed: %s (%d bytes)", media_id, stored.path, size)
    if p.after_complete is not None:
        try:
            p.after_complete(media_id)
        except Exception:  # the file is stored and the row completed: a missing thumbnail costs only a decode
            log.exception("could not schedule the thumbnail of media %s", media_id)
    return MediaStatus.COMPLETED


def _fetch_and_store(p: Pipeline, states: MediaStates, job: Claim, started: float):
    cfg = p.cfg
    info = graph.fetch_media_info(cfg.graph_url, cfg.graph_version, job.wa_media_id, cfg.access_token)
    limit = size_limit(job.kind)
    if info.file_size is not None and info.file_size > limit:
        raise PermanentMediaError(
            f"the file is too large: {info.file_size:,} bytes, over the {limit:,} byte limit for {job.kind}",
            reason=R.TOO_LARGE)
    declared = job.mime or info.mime_type
    key = _storage_key(job, extension_for(declared))
    # The same bytes stored already (a forwarded photo, a sticker sent again): checked and linked under this
    # media's own name, not downloaded again.
    digest = graph.declared_hex(info.sha256)
    held = (stored_copy(p.storage, sha256=digest, size=info.file_size, head_bytes=SNIFF_BYTES)
            if digest is not None and info.file_size is not None else None)
    if held is not None:
        copy, head = held
        sniffed = _checked_type(declared, head)
        stored = link_copy(p.storage, copy, key)
        if stored is not None:
            return stored, info.file_size, digest, declared or sniffed
    folder = p.storage.temp_dir(key)
    temp = folder / temp_name(Path(key).name, uuid.uuid4().hex[:8])
    try:
        size, digest, head = _stream(p, states, job, info, temp, limit, started)
        if info.file_size is not None and size != info.file_size:
            raise TransientMediaError(f"the download was cut short: {size:,} of {info.file_size:,} bytes",
                                      reason=R.TRUNCATED)
        if not graph.digest_matches(info.sha256, digest):
            raise TransientMediaError("the file's sha256 does not match WhatsApp's; it will be fetched again",
                                      reason=R.CHECKSUM)
        sniffed = _checked_type(declared, head)
        stored = store_once(p.storage, temp, key, sha256=digest.hex(),
                            content_type=(declared or sniffed or "application/octet-stream"))
        return stored, size, digest.hex(), declared or sniffed
    finally:
        try:
            temp.unlink(missing_ok=True)
        except OSError as exc:  # never let cleanup hide the error that brought us here
            log.warning("could not remove %s: %s", temp, exc)


def _checked_type(declared: str | None, head: bytes) -> str | None:
    sniffed = sniff(head)
    if contradicts(declared, sniffed):
        raise PermanentMediaError(f"the file claims to be {declared} but its content is {sniffed}",
                                  reason=R.MIME_MISMATCH)
    return sniffed


def _stream(p: Pipeline, states: MediaStates, job: Claim, info: graph.MediaInfo, temp: Path, limit: int,
            started: float):
    """Stream to `temp` in chunks, hashing as it goes; memory stays flat whatever the size."""
    timeout = p.cfg.download_timeout
    try:
        resp = graph.session().get(info.url, headers={"Authorization": f"Bearer {p.cfg.access_token}"},
                                   stream=True, timeout=(graph.CONNECT_TIMEOUT, graph.READ_TIMEOUT))
    except requests.Timeout as exc:
        raise TransientMediaError(f"the download timed out: {exc}", reason=R.TIMEOUT) from exc
    except requests.RequestException as exc:
        raise TransientMediaError(f"could not download the file: {exc}", reason=R.NETWORK) from exc
    with resp:
        if resp.status_code in (401, 403, 404, 410):
            raise TransientMediaError(f"the download link expired or was refused ({resp.status_code}); "
                                      "the next attempt asks WhatsApp for a new one", reason=R.EXPIRED)
        if resp.status_code == 429:
            raise TransientMediaError("the download server asked us to slow down (429)", reason=R.RATE_LIMITED,
                                      retry_after=graph.retry_after(resp))
        if resp.status_code != 200:
            raise TransientMediaError(f"the download answered {resp.status_code}", reason=R.SERVER,
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
                            f"the file is too large: more than {limit:,} bytes for {job.kind}", reason=R.TOO_LARGE)
                    if time.monotonic() - started > timeout:
                        raise TransientMediaError(f"the download took longer than {timeout:.0f} s", reason=R.TIMEOUT)
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    h.update(chunk)
                    _write_all(out, chunk)
                    if size >= next_progress:
                        next_progress += PROGRESS_EVERY
                        states.progress(job, bytes_done=size, bytes_total=total)
                os.fsync(out.fileno())
        except requests.RequestException as exc:
            got = f"after {size:,} bytes" if size else "before its first chunk"
            raise TransientMediaError(f"the download broke off {got}: {exc}", reason=R.TRUNCATED) from exc
        except OSError as exc:
            raise media_fault(exc) or TransientMediaError(f"could not write the file: {exc.strerror or exc}",
                                                          reason=R.STORAGE) from exc
    return size, h.digest(), head


def _write_all(out, chunk: bytes) -> None:
    # An unbuffered write is one write(2), which may take less than all of it; the hash and byte count
    # describe the whole chunk, so the file must get the whole chunk too.
    view = memoryview(chunk)
    while view:
        view = view[out.write(view):]


def _expired_at_meta(job: Claim) -> bool:
    return job.message_at is not None and utcnow() - job.message_at > META_RETENTION


def _failed_attempt(p: Pipeline, states: MediaStates, job: Claim, exc: MediaError) -> str:
    delays = p.cfg.retry_delays
    if _expired_at_meta(job) and exc.reason in (R.GONE, R.EXPIRED, R.SERVER, *RETRY_UNTIL_GONE):
        exc = PermanentMediaError("expired at Meta: WhatsApp keeps received media for 7 days only",
                                  reason=R.EXPIRED_AT_META)
    message, reason = str(exc), exc.reason
    # A fault of this machine (disk full, storage or database unavailable) says nothing about the media:
    # it is retried for as long as Meta keeps the file, not just len(retry_delays) times.
    if isinstance(exc, TransientMediaError) and (job.attempt <= len(delays) or reason in RETRY_UNTIL_GONE):
        delay = delays[min(job.attempt, len(delays)) - 1] if delays else 0.0
        if reason in RETRY_UNTIL_GONE:
            delay = max(delay, fault_delay(job.attempt))
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)  # the server said when: asking sooner only fails again
        states.reschedule(job, error=message, reason=reason, delay=delay)
        log.warning("media %s attempt %d failed (%s); retrying in %.0f s", job.media_id, job.attempt, message, delay)
        p.schedule(job.media_id, delay)
        return MediaStatus.PENDING
    states.fail(job, error=message, reason=reason)
    log.error("media %s failed after %d attempt(s): %s", job.media_id, job.attempt, message)
    return MediaStatus.FAILED
