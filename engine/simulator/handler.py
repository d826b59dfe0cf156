"""The simulator's HTTP side: routes Graph requests to its state and answers in Graph's words.

A `ThreadingHTTPServer` serves one handler thread per connection; the handler owns nothing but the
request in hand, and reads and changes the simulator's state only through `MediaStore` (media) and
`BusinessAccounts` (numbers, accounts, subscriptions).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from engine.simulator.state import CHUNK, DOWNLOAD_PATH, SimulatedMedia

if TYPE_CHECKING:
    from engine.simulator.graph import CloudSimulator

log = logging.getLogger("engine.simulator.graph")

_VERSION = re.compile(r"^v\d+\.\d+$")

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


def _body_params(raw: bytes, content_type: str) -> dict[str, str]:
    """A POST body's parameters, JSON or form-encoded, as Graph takes both."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return {}
    if "json" in content_type.lower() or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


class SimulatorServer(ThreadingHTTPServer):
    """The listening socket, plus what stopping needs: a flag for sleeping handlers, the open connections."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent downloads: 1 s stalls

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def cut_connections(self) -> None:
        """Cut slow or hung responses short, so stopping never waits on a client."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already hung up: nothing left to close


def handler_for(sim: CloudSimulator) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one simulator (http.server instantiates it per request)."""

    class Handler(GraphHandler):
        simulator = sim

    return Handler


class GraphHandler(BaseHTTPRequestHandler):
    simulator: CloudSimulator
    server: SimulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Graph API and CDN
    server_version = "MediaDeskCloudSimulator/1.0"
    timeout = 30  # an idle keep-alive connection is dropped after this long
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        try:
            super().finish()
        except OSError:
            pass  # the client vanished; its bytes have nowhere to go

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("simulator: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if len(parts) == 2 and parts[0] == DOWNLOAD_PATH:
            self._download(parts[1], parse_qs(url.query))
        elif self._business(parts):
            self._account_call("GET", parts[1:], url.query)
        elif len(parts) == 2 and _VERSION.match(parts[0]):
            self._metadata(parts[1])
        else:
            self._json(404, graph_error(404, message="Unknown path components: " + url.path))

    def do_POST(self) -> None:  # noqa: N802
        self._write_call("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._write_call("DELETE")

    def _write_call(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if len(parts) >= 2 and _VERSION.match(parts[0]):
            self._account_call(method, parts[1:], url.query, body)
        else:
            self._json(400, graph_error(400, message="Unknown path components: " + url.path))

    def _business(self, parts: list[str]) -> bool:
        """A number, an account or one of their edges, rather than a media id."""
        return len(parts) >= 2 and bool(_VERSION.match(parts[0])) and (
            len(parts) > 2 or self.simulator.accounts.knows(parts[1]))

    # the business-management routes ---------------------------------------------------------------
    def _account_call(self, method: str, parts: list[str], query: str, body: bytes = b"") -> None:
        if not self._authorized():
            return self._json(401, graph_error(401))
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        params.update(_body_params(body, self.headers.get("Content-Type", "")))
        status, payload = self.simulator.accounts.answer(method, parts, params)
        return self._json(status, payload)

    # the two routes -------------------------------------------------------------------------------
    def _metadata(self, media_id: str) -> None:
        store, stopping = self.simulator.store, self.server.stopping
        calls = store.count(store.metadata_calls, media_id)
        if not self._authorized():
            return self._json(401, graph_error(401))
        media = store.lookup(media_id)
        if media is None:
            return self._json(404, graph_error(404, media_id=media_id))
        fault = media.fault
        if fault.timeout_s and stopping.wait(fault.timeout_s):
            self.close_connection = True  # shutting down: leave the caller hanging up
            return None
        if fault.status is not None:
            return self._json(fault.status, graph_error(fault.status, media_id=media_id))
        if calls <= fault.rate_limit_first:
            wait = {} if fault.retry_after_s is None else {"Retry-After": f"{fault.retry_after_s:g}"}
            return self._json(429, graph_error(429), headers=wait)
        if calls <= fault.failing_metadata_calls:
            return self._json(500, graph_error(500))
        return self._json(200, store.metadata(media, self.server.base_url))

    def _download(self, media_id: str, query: dict[str, list[str]]) -> None:
        store = self.simulator.store
        attempt = store.count(store.download_calls, media_id)
        if not self._authorized():
            return self._json(401, graph_error(401))
        exp = query.get("exp", [""])[0]
        sig = query.get("sig", [""])[0]
        if not hmac.compare_digest(sig, store.signature(media_id, exp)):
            return self._json(403, graph_error(403, message="URL signature mismatch"))
        if time.time() >= float(exp):
            return self._json(404, graph_error(404, message="URL signature expired"))
        media = store.lookup(media_id)
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
        store, fault, stopping = self.simulator.store, media.fault, self.server.stopping
        limit = media.file_size // 2 if fault.truncate else media.file_size
        chunk = max(512, fault.slow_bps // 20) if fault.slow_bps else CHUNK  # ~20 writes a second
        self.send_response(200)
        self.send_header("Content-Type", media.mime)
        self.send_header("Content-Length", str(media.file_size))  # truncate still promises it all
        if media.file_size == 0:
            store.count(store.downloads_completed, media.media_id)
        self.end_headers()
        sent = 0
        for piece in media.chunks(limit, chunk):
            sent += len(piece)
            last = sent == media.file_size
            if last:
                store.count(store.downloads_completed, media.media_id)
            try:
                self.wfile.write(piece)
            except OSError:  # the downloader gave up, timed out or died mid-file
                if last:
                    store.count(store.downloads_completed, media.media_id, -1)
                self.close_connection = True
                return
            if fault.slow_bps and sent < limit and stopping.wait(len(piece) / fault.slow_bps):
                self.close_connection = True  # shutting down: abandon the trickle
                return
        if fault.truncate:
            self.close_connection = True  # hang up short of the promised Content-Length
