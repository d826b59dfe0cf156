"""What the simulator knows, apart from how it is asked: registered media, their faults, call counters.

Everything here is guarded by one lock, because the HTTP handler reads it from a thread per request
while a test changes faults or reads counters from its own thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from engine.simulator.faults import OVERSIZE_BYTES, Fault
from engine.simulator.samples import base_mime, sample_bytes

DEFAULT_URL_TTL = 300.0
"""Meta's media URLs live about five minutes; a downloader must never reuse an older one."""

DOWNLOAD_PATH = "media-download"
CHUNK = 64 * 1024
_ZEROS = bytes(CHUNK)


@dataclass(frozen=True)
class SimulatedMedia:
    """One registered media: the bytes served (`head`, then zero padding up to `file_size`)."""

    media_id: str
    mime: str
    head: bytes
    file_size: int
    sha256: str
    """Hex digest of exactly the bytes the download URL serves."""
    fault: Fault = field(default_factory=Fault)
    ttl: float | None = None

    @property
    def sha256_base64(self) -> str:
        """The same digest base64-encoded, as Meta writes it in webhooks."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    @property
    def body(self) -> bytes:
        """The whole served body in memory; fine for samples, avoid it for padded large files."""
        return b"".join(self.chunks(self.file_size))

    def chunks(self, limit: int, size: int = CHUNK) -> Iterator[bytes]:
        """The first `limit` bytes of the body in pieces, without materialising the padding."""
        pos = 0
        while pos < limit:
            want = min(size, limit - pos)
            piece = self.head[pos:pos + want] if pos < len(self.head) else _ZEROS[:min(want, CHUNK)]
            yield piece
            pos += len(piece)


def _build_media(media_id: str, mime: str, data: bytes | None, fault: Fault, ttl: float | None,
                 size: int | None) -> SimulatedMedia:
    if fault.lying_mime:
        # metadata keeps the declared type; the bytes are something else entirely
        decoy = "image/jpeg" if base_mime(mime) == "application/pdf" else "application/pdf"
        head = sample_bytes(decoy, media_id)
    else:
        head = sample_bytes(mime, media_id) if data is None else bytes(data)
    total = max(len(head), size or 0)
    digest = hashlib.sha256(head)
    padding = total - len(head)
    while padding > 0:
        step = min(padding, CHUNK)
        digest.update(_ZEROS[:step])
        padding -= step
    return SimulatedMedia(media_id, mime, head, total, digest.hexdigest(), fault, ttl)


class MediaStore:
    """The media Meta holds for the simulated account, with per-media faults and call counters."""

    def __init__(self, *, url_ttl: float = DEFAULT_URL_TTL) -> None:
        self.url_ttl = url_ttl
        self.lock = threading.Lock()
        self._media: dict[str, SimulatedMedia] = {}
        self._sources: dict[str, tuple[bytes | None, int | None]] = {}  # what add_media was given
        self._url_key = secrets.token_bytes(16)
        self.metadata_calls: Counter[str] = Counter()
        self.download_calls: Counter[str] = Counter()
        self.downloads_completed: Counter[str] = Counter()

    # the registry ------------------------------------------------------------------------------
    def add(self, media_id: str, mime: str, data: bytes | None = None, *, fault: Fault | None = None,
            ttl: float | None = None, size: int | None = None) -> SimulatedMedia:
        media = _build_media(str(media_id), mime, data, fault or Fault(), ttl, size)
        with self.lock:
            self._media[media.media_id] = media
            self._sources[media.media_id] = (data, size)
        return media

    def remove(self, media_id: str) -> None:
        with self.lock:
            self._media.pop(str(media_id), None)
            self._sources.pop(str(media_id), None)

    def set_fault(self, media_id: str, fault: Fault | None) -> None:
        with self.lock:
            media = self._media[str(media_id)]
            data, size = self._sources[media.media_id]
            self._media[media.media_id] = _build_media(
                media.media_id, media.mime, data, fault or Fault(), media.ttl, size)

    def get(self, media_id: str) -> SimulatedMedia:
        """The registered media (KeyError when unknown)."""
        with self.lock:
            return self._media[str(media_id)]

    def lookup(self, media_id: str) -> SimulatedMedia | None:
        with self.lock:
            return self._media.get(media_id)

    # counters ----------------------------------------------------------------------------------
    def count(self, counter: Counter[str], media_id: str, delta: int = 1) -> int:
        with self.lock:
            counter[media_id] += delta
            return counter[media_id]

    def reset_counters(self) -> None:
        with self.lock:
            for counter in (self.metadata_calls, self.download_calls, self.downloads_completed):
                counter.clear()

    # what the metadata call answers --------------------------------------------------------------
    def signature(self, media_id: str, exp: str) -> str:
        return hmac.new(self._url_key, f"{media_id}|{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def download_url(self, media: SimulatedMedia, base_url: str) -> str:
        if media.fault.expire_s is not None:
            lifetime = media.fault.expire_s
        else:
            lifetime = media.ttl if media.ttl is not None else self.url_ttl
        exp = f"{time.time() + lifetime:.3f}"
        path = f"/{DOWNLOAD_PATH}/{quote(media.media_id, safe='')}"
        return f"{base_url}{path}?exp={exp}&sig={self.signature(media.media_id, exp)}"

    def metadata(self, media: SimulatedMedia, base_url: str) -> dict[str, Any]:
        digest = hashlib.sha256(bytes.fromhex(media.sha256) + b"tampered").hexdigest() \
            if media.fault.wrong_sha256 else media.sha256
        if media.fault.sha256_base64:
            digest = base64.b64encode(bytes.fromhex(digest)).decode()
        return {
            "messaging_product": "whatsapp",
            "url": self.download_url(media, base_url),
            "mime_type": media.mime,
            "sha256": digest,
            "file_size": OVERSIZE_BYTES if media.fault.oversize else media.file_size,
            "id": media.media_id,
        }
