"""A Graph API media endpoint on loopback that keeps Meta's documented contract.

`GET /{version}/{media_id}` with `Authorization: Bearer <token>` answers the media's metadata and
a short-lived URL; that URL serves the bytes, again only with the token, only until it expires.
Errors use Graph's JSON error shape. Per-media `Fault`s reproduce what goes wrong in production,
and per-media counters let tests see exactly how often the downloader asked.

It runs on the standard library alone (a `ThreadingHTTPServer` in a daemon thread) so tests, the
demo and benchmarks can start one in milliseconds, anywhere, with no network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from engine.simulator.faults import OVERSIZE_BYTES, Fault
from engine.simulator.samples import base_mime, sample_bytes

log = logging.getLogger(__name__)

DEFAULT_ACCESS_TOKEN = "SIMULATOR-ACCESS-TOKEN"
DEFAULT_GRAPH_VERSION = "v21.0"
DEFAULT_URL_TTL = 300.0
"""Meta's media URLs live about five minutes; a downloader must never reuse an older one."""

_VERSION = re.compile(r"^v\d+\.\d+$")
_DOWNLOAD_PATH = "media-download"
_CHUNK = 64 * 1024
_ZEROS = bytes(_CHUNK)

# status -> (message, type, code) in the words Graph uses, for the `status` fault and real errors
_GRAPH_ERRORS: dict[int, tuple[str, str, int]] = {
    400: ("Invalid parameter", "OAuthException", 100),
    401: ("Invalid OAuth access token - Cannot parse access token", "OAuthException", 190),
    403: ("(#10) Application does not have permission for this action", "OAuthException", 10),
    404: ("Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded "
          "due to missing permissions, or does not support this operation.", "GraphMethodException", 100),
    429: ("(#80007) Rate limit issues: the WhatsApp Business Account has reached its rate limit",
          "OAuthException", 80007),
    500: ("An unexpected error has occurred. Please retry your request later.", "OAuthException", 2),
    503: ("Service temporarily unavailable", "OAuthException", 2),
}


def graph_error(status: int, *, media_id: str = "", message: str | None = None) -> dict[str, Any]:
    """Graph's error body for an HTTP status, e.g. 401 -> OAuthException code 190."""
    fallback = ("An unknown error occurred", "OAuthException", 1)
    default_message, kind, code = _GRAPH_ERRORS.get(status, fallback)
    error: dict[str, Any] = {
        "message": message or default_message.format(media_id=media_id),
        "type": kind,
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if status >= 500:
        error["is_transient"] = True
    if status == 404:
        error["error_subcode"] = 33
    return {"error": error}


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

    def chunks(self, limit: int, size: int = _CHUNK) -> Iterator[bytes]:
        """The first `limit` bytes of the body in pieces, without materialising the padding."""
        pos = 0
        while pos < limit:
            want = min(size, limit - pos)
            piece = self.head[pos:pos + want] if pos < len(self.head) else _ZEROS[:min(want, _CHUNK)]
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
        step = min(padding, _CHUNK)
        digest.update(_ZEROS[:step])
        padding -= step
    return SimulatedMedia(media_id, mime, head, total, digest.hexdigest(), fault, ttl)


class CloudSimulator:
    """Meta's media endpoints on 127.0.0.1, with faults and call counters per media id.

    >>> with CloudSimulator() as sim:
    ...     sim.add_media("1234", "image/jpeg")
    ...     graph_url = sim.base_url  # point the engine's graph_url here, token sim.access_token

    `version` is only what clients are told to use: any `vNN.N` path segment is served, as Graph
    serves every supported version.
    """

    def __init__(self, *, access_token: str = DEFAULT_ACCESS_TOKEN, url_ttl: float = DEFAULT_URL_TTL,
                 host: str = "127.0.0.1", port: int = 0, version: str = DEFAULT_GRAPH_VERSION) -> None:
        self.access_token = access_token
        self.url_ttl = url_ttl
        self.version = version
        self._address = (host, port)
        self._media: dict[str, SimulatedMedia] = {}
        self._sources: dict[str, tuple[bytes | None, int | None]] = {}  # what add_media was given
        self._lock = threading.Lock()
        self._url_key = secrets.token_bytes(16)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.metadata_calls: Counter[str] = Counter()
        self.download_calls: Counter[str] = Counter()
        self.downloads_completed: Counter[str] = Counter()

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> str:
        """Listen and serve in a daemon thread; returns the base URL, e.g. http://127.0.0.1:PORT."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        server = _Server(self._address, _handler_for(self))
        self._server = server
        # a short poll interval makes stop() (and so every test's teardown) take milliseconds
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cloud-simulator", daemon=True)
        self._thread.start()
        log.info("WhatsApp Cloud simulator listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving, cut slow or hung responses short and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already hung up: nothing left to close
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CloudSimulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The Graph base URL (no version); only valid while started."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # media registry --------------------------------------------------------------------------
    def add_media(self, media_id: str, mime: str, data: bytes | None = None, *, fault: Fault | None = None,
                  ttl: float | None = None, size: int | None = None) -> SimulatedMedia:
        """Register a media; without `data`, a real sample file of that MIME unique to the id.

        `ttl` overrides the URL lifetime for this media; `size` zero-pads the body to that many
        bytes (large-file tests) without holding the padding in memory.
        """
        media = _build_media(str(media_id), mime, data, fault or Fault(), ttl, size)
        with self._lock:
            self._media[media.media_id] = media
            self._sources[media.media_id] = (data, size)
        return media

    def remove_media(self, media_id: str) -> None:
        """Forget a media, as Meta does once the sender deletes it or 30 days pass: 404 from now on."""
        with self._lock:
            self._media.pop(str(media_id), None)
            self._sources.pop(str(media_id), None)

    def set_fault(self, media_id: str, fault: Fault | None) -> None:
        """Change a registered media's fault, e.g. heal it so a Retry succeeds."""
        with self._lock:
            media = self._media[str(media_id)]
            data, size = self._sources[media.media_id]
            self._media[media.media_id] = _build_media(
                media.media_id, media.mime, data, fault or Fault(), media.ttl, size)

    def media(self, media_id: str) -> SimulatedMedia:
        """The registered media (KeyError when unknown)."""
        with self._lock:
            return self._media[str(media_id)]

    def reset_counters(self) -> None:
        """Zero every call counter, so a test can count one phase on its own."""
        with self._lock:
            for counter in (self.metadata_calls, self.download_calls, self.downloads_completed):
                counter.clear()

    # used by the request handler -----------------------------------------------------------------
    def _count(self, counter: Counter[str], media_id: str, delta: int = 1) -> int:
        with self._lock:
            counter[media_id] += delta
            return counter[media_id]

    def _lookup(self, media_id: str) -> SimulatedMedia | None:
        with self._lock:
            return self._media.get(media_id)

    def _signature(self, media_id: str, exp: str) -> str:
        return hmac.new(self._url_key, f"{media_id}|{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def _download_url(self, media: SimulatedMedia) -> str:
        if media.fault.expire_s is not None:
            lifetime = media.fault.expire_s
        else:
            lifetime = media.ttl if media.ttl is not None else self.url_ttl
        exp = f"{time.time() + lifetime:.3f}"
        path = f"/{_DOWNLOAD_PATH}/{quote(media.media_id, safe='')}"
        return f"{self.base_url}{path}?exp={exp}&sig={self._signature(media.media_id, exp)}"

    def _metadata(self, media: SimulatedMedia) -> dict[str, Any]:
        digest = hashlib.sha256(bytes.fromhex(media.sha256) + b"tampered").hexdigest() \
            if media.fault.wrong_sha256 else media.sha256
        if media.fault.sha256_base64:
            digest = base64.b64encode(bytes.fromhex(digest)).decode()
        return {
            "messaging_product": "whatsapp",
            "url": self._download_url(media),
            "mime_type": media.mime,
            "sha256": digest,
            "file_size": OVERSIZE_BYTES if media.fault.oversize else media.file_size,
            "id": media.media_id,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent downloads: 1 s stalls


def _handler_for(sim: CloudSimulator) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one simulator (http.server instantiates it per request)."""

    class Handler(_GraphHandler):
        simulator = sim

    return Handler


class _GraphHandler(BaseHTTPRequestHandler):
    simulator: CloudSimulator
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Graph API and CDN
    server_version = "MediaDeskCloudSimulator/1.0"
    timeout = 30  # an idle keep-alive connection is dropped after this long
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls

    def setup(self) -> None:
        super().setup()
        with self.simulator._lock:
            self.simulator._connections.add(self.connection)

    def finish(self) -> None:
        with self.simulator._lock:
            self.simulator._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the client vanished; its bytes have nowhere to go

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("simulator: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) == 2 and parts[0] == _DOWNLOAD_PATH:
            self._download(parts[1], parse_qs(url.query))
        elif len(parts) == 2 and _VERSION.match(parts[0]):
            self._metadata(parts[1])
        else:
            self._json(404, graph_error(404, message="Unknown path components: " + url.path))

    # the two routes -------------------------------------------------------------------------------
    def _metadata(self, media_id: str) -> None:
        sim = self.simulator
        calls = sim._count(sim.metadata_calls, media_id)
        if not self._authorized():
            return self._json(401, graph_error(401))
        media = sim._lookup(media_id)
        if media is None:
            return self._json(404, graph_error(404, media_id=media_id))
        fault = media.fault
        if fault.timeout_s and sim._stopping.wait(fault.timeout_s):
            self.close_connection = True  # shutting down: leave the caller hanging up
            return None
        if fault.status is not None:
            return self._json(fault.status, graph_error(fault.status, media_id=media_id))
        if calls <= fault.rate_limit_first:
            wait = {} if fault.retry_after_s is None else {"Retry-After": f"{fault.retry_after_s:g}"}
            return self._json(429, graph_error(429), headers=wait)
        if calls <= fault.failing_metadata_calls:
            return self._json(500, graph_error(500))
        return self._json(200, sim._metadata(media))

    def _download(self, media_id: str, query: dict[str, list[str]]) -> None:
        sim = self.simulator
        attempt = sim._count(sim.download_calls, media_id)
        if not self._authorized():
            return self._json(401, graph_error(401))
        exp = query.get("exp", [""])[0]
        sig = query.get("sig", [""])[0]
        if not hmac.compare_digest(sig, sim._signature(media_id, exp)):
            return self._json(403, graph_error(403, message="URL signature mismatch"))
        if time.time() >= float(exp):
            return self._json(404, graph_error(404, message="URL signature expired"))
        media = sim._lookup(media_id)
        if media is None:
            return self._json(404, graph_error(404, media_id=media_id))
        if attempt <= media.fault.dl_fail_first:
            return self._json(500, graph_error(500))
        return self._stream(media)

    # helpers ---------------------------------------------------------------------------------------
    def _authorized(self) -> bool:
        expected = f"Bearer {self.simulator.access_token}"
        return hmac.compare_digest(self.headers.get("Authorization", ""), expected)

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, media: SimulatedMedia) -> None:
        """Send the body, honouring slow and truncate faults, and count it once it is all out.

        The completion is counted just before the last bytes are written, so a client holding the
        whole body always finds the counter already moved; a failed last write takes it back.
        """
        sim, fault = self.simulator, media.fault
        limit = media.file_size // 2 if fault.truncate else media.file_size
        chunk = max(512, fault.slow_bps // 20) if fault.slow_bps else _CHUNK  # ~20 writes a second
        self.send_response(200)
        self.send_header("Content-Type", media.mime)
        self.send_header("Content-Length", str(media.file_size))  # truncate still promises it all
        if media.file_size == 0:
            sim._count(sim.downloads_completed, media.media_id)
        self.end_headers()
        sent = 0
        for piece in media.chunks(limit, chunk):
            sent += len(piece)
            last = sent == media.file_size
            if last:
                sim._count(sim.downloads_completed, media.media_id)
            try:
                self.wfile.write(piece)
            except OSError:  # the downloader gave up, timed out or died mid-file
                if last:
                    sim._count(sim.downloads_completed, media.media_id, -1)
                self.close_connection = True
                return
            if fault.slow_bps and sent < limit and sim._stopping.wait(len(piece) / fault.slow_bps):
                self.close_connection = True  # shutting down: abandon the trickle
                return
        if fault.truncate:
            self.close_connection = True  # hang up short of the promised Content-Length
