"""HTTP/1.1 for the listener: httptools parses, this asyncio protocol hands whole requests to the app.

Why not uvicorn: on two cores shared with the database and Meta's side of the connection, the listener's CPU per
webhook is its throughput. uvicorn is built for any ASGI app (a scope dict, a request cycle object, receive and
send coroutines and two message dicts per request, a task, flow control for streaming bodies). With a trivial app
it spent twice the CPU per request of a bare httptools server on the same bodies, and replacing it cut
`mediadesk serve`'s CPU per webhook by about a tenth (BENCHMARKS.md, "The listener's own HTTP layer"). A webhook
body is small and capped, so a request here is read whole, handed over once, and answered with one write.

What it keeps of HTTP/1.1: keep-alive (and `Connection: close`, HTTP/1.0), pipelined requests answered in order,
chunked bodies, `Expect: 100-continue`, the body limit enforced as it arrives (413, then the connection is
closed), 400 for what does not parse, an idle connection closed after `IDLE_TIMEOUT_S`, and a shutdown that lets
the request in hand finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote

import httptools

log = logging.getLogger(__name__)
IDLE_TIMEOUT_S = 30.0  # no byte from a client this long, between or inside requests: it is let go
MAX_QUEUED = 16  # pipelined requests parsed ahead of the answers; reading pauses beyond this
MAX_HEAD = 64 * 1024  # request line and headers; llhttp itself sets no limit
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]  # names in lower case; the first of a repeated header
    body: bytes


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: bytes = b"text/plain; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False  # hang up after this answer (a body too large, say: the rest of it is not read)


class Handler(Protocol):
    """What the protocol serves: a body limit, an answer for a body over it, and an answer for each request."""

    max_body: int

    def too_large(self, declared: int | None) -> Response: ...

    def handle(self, request: Request) -> Awaitable[Response]: ...


def encode(response: Response, *, head_only: bool = False, keep_alive: bool = True) -> bytes:
    """The status line, headers and body as one buffer: one write, one packet for a small answer."""
    body = response.body
    out = [b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
           % (response.status, _REASONS.get(response.status, b""), response.content_type, len(body))]
    for name, value in response.headers:
        out.append(b"%s: %s\r\n" % (name, value))
    if not keep_alive:
        out.append(b"connection: close\r\n")
    out.append(b"\r\n")
    if not head_only:
        out.append(body)
    return b"".join(out)


class Connections:
    """The open connections of one server, so that a shutdown can let each go when its answer is out."""

    def __init__(self) -> None:
        self.open: set[HttpProtocol] = set()

    def close_all(self) -> None:
        for conn in list(self.open):
            conn.shutdown()

    @property
    def busy(self) -> bool:
        return any(c.busy for c in self.open)


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, handler: Handler, connections: Connections, loop: asyncio.AbstractEventLoop) -> None:
        self._handler = handler
        self._connections = connections
        self._loop = loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[tuple[Request, bool]] = deque()
        self._busy = False  # a request is being answered
        self._paused = False
        self._closing = False  # hang up once the answers in hand are out
        self._discard = False  # refused mid-body: the rest of this connection's bytes are not parsed
        self._refusal: Response | None = None  # sent once the answers before it are out
        self._idle: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        # the request being parsed
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = 0

    @property
    def busy(self) -> bool:
        return self._busy or bool(self._queue)

    # -- asyncio
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._connections.open.add(self)
        self._touch()

    def connection_lost(self, exc: Exception | None) -> None:
        # A request in hand runs to its end (its webhook is stored all the same); only its answer has nowhere to go.
        self._connections.open.discard(self)
        self._transport = None
        self._queue.clear()
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def data_received(self, data: bytes) -> None:
        if self._discard or self._transport is None:
            return
        self._touch()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An upgrade (h2c, websocket) is not offered: the request was read and is answered as plain HTTP/1.1,
            # and the connection ends after it (what follows the headers is no longer HTTP/1.1).
            self._discard = self._closing = True
            if not self.busy and self._transport is not None:
                self._transport.close()
        except httptools.HttpParserError as exc:
            log.info("bad HTTP request refused: %s", exc)
            self._refuse(Response(400, b"bad request", close=True))

    # -- httptools
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._chunks = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grew(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grew(len(name) + len(value))
        name = name.lower()
        if name not in self._headers:
            self._headers[name] = value

    def _grew(self, by: int) -> None:
        self._size += by
        if self._size > MAX_HEAD and not self._discard:
            self._refuse(Response(431, b"request headers too large", close=True))

    def on_headers_complete(self) -> None:
        if self._discard:
            return
        self._size = 0
        handler = self._handler
        self._limit = handler.max_body
        declared = self._headers.get(b"content-length")
        if declared is not None and int(declared) > self._limit:  # llhttp took only digits
            self._refuse(handler.too_large(int(declared)))
            return
        if self._headers.get(b"expect", b"").lower() == b"100-continue" and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._discard:
            return
        self._size += len(body)
        if self._size > self._limit:
            self._refuse(self._handler.too_large(None))
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._discard:
            return
        url = self._url
        path, _, query = url.partition(b"?")
        text = path.decode("latin-1")
        if "%" in text:
            text = unquote(text)
        request = Request(self._parser.get_method().decode("latin-1"), text, query, self._headers,
                          b"".join(self._chunks))
        self._chunks = []
        self._queue.append((request, bool(self._parser.should_keep_alive())))
        if not self._busy:
            self._next()
        elif len(self._queue) >= MAX_QUEUED and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    # -- answering
    def _next(self) -> None:
        """Answer the next queued request, or do what waits for the queue to drain."""
        transport = self._transport
        if transport is None:
            return
        if not self._queue:
            if self._refusal is not None:
                transport.write(encode(self._refusal, keep_alive=False))
                transport.close()
            elif self._closing:
                transport.close()
            return
        request, keep_alive = self._queue.popleft()
        if self._paused and len(self._queue) < MAX_QUEUED // 2:
            self._paused = False
            transport.resume_reading()
        self._busy = True
        task = self._loop.create_task(self._handler.handle(request))  # type: ignore[arg-type]
        task.add_done_callback(lambda t, m=request.method, k=keep_alive: self._answered(t, m, k))

    def _answered(self, task: asyncio.Task, method: str, keep_alive: bool) -> None:
        self._busy = False
        if task.cancelled():
            response = Response(503, b"shutting down", close=True)
        elif task.exception() is not None:
            log.error("the listener could not answer a %s request", method, exc_info=task.exception())
            response = Response(500, b"internal error", close=True)
        else:
            response = task.result()
        transport = self._transport
        if transport is None:
            return
        last = not self._queue and self._refusal is None and self._closing
        keep = keep_alive and not response.close and not last
        transport.write(encode(response, head_only=method == "HEAD", keep_alive=keep))
        if keep:
            self._next()
        else:
            self._queue.clear()
            self._discard = True
            transport.close()

    def _refuse(self, response: Response) -> None:
        """Answer `response` and hang up once the requests read before it are answered; nothing more is read."""
        self._discard = True
        if self.busy:
            self._refusal = response
        elif self._transport is not None:
            self._transport.write(encode(response, keep_alive=False))
            self._transport.close()

    def shutdown(self) -> None:
        """Let this connection go: now when idle, after the answer in hand otherwise."""
        if self._transport is None:
            return
        if self.busy:
            self._closing = True
        else:
            self._transport.close()

    def _touch(self) -> None:
        # A timestamp per read and one timer per connection that re-arms itself: cheaper than a new timer per read.
        self._last_read = self._loop.time()
        if self._idle is None:
            self._idle = self._loop.call_at(self._last_read + IDLE_TIMEOUT_S, self._timed_out)

    def _timed_out(self) -> None:
        self._idle = None
        if self._transport is None:
            return
        due = self._last_read + IDLE_TIMEOUT_S
        if self.busy or due > self._loop.time():  # read from since, or the client waits for us, not we for it
            self._idle = self._loop.call_at(max(due, self._loop.time() + 1.0), self._timed_out)
        else:
            self._transport.close()
