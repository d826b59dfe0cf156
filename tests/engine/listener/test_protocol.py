"""The listener's HTTP/1.1 over real sockets on loopback, with a handler that stores nothing.

What a client other than Meta's may do: keep a connection, pipeline requests, send chunks, ask for 100-continue,
send too much or garbage, go quiet, or be there when the listener stops.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from engine.listener import protocol
from engine.listener.protocol import Request, Response
from engine.listener.server import ListenerThread

LIMIT = 1000


class Echo:
    """Answers with the method, path, query and body it got; `/slow` waits until `release` is set."""

    max_body = LIMIT

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.release = threading.Event()
        self.refused: list[int | None] = []

    def too_large(self, declared: int | None) -> Response:
        self.refused.append(declared)
        return Response(413, b"too large", close=True)

    async def handle(self, request: Request) -> Response:
        self.seen.append(request)
        if request.path == "/slow":
            while not self.release.is_set():
                await asyncio.sleep(0.005)
        if request.path == "/boom":
            raise RuntimeError("a bug in a route")
        text = b"%s %s ?%s %s" % (request.method.encode(), request.path.encode(), request.query, request.body)
        return Response(200, text)


@pytest.fixture
def served() -> tuple[Echo, ListenerThread]:
    handler = Echo()
    listener = ListenerThread(handler, host="127.0.0.1", port=0)
    listener.start()
    yield handler, listener
    handler.release.set()
    listener.stop()


def connect(listener: ListenerThread) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    return s


def read_answer(s: socket.socket, buf: bytearray) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One answer off `s` (what is read past it stays in `buf`): status line, headers, body."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    size = int(headers.get(b"content-length", b"0"))
    del buf[:len(head) + 4]
    while len(buf) < size:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        buf += chunk
    body = bytes(buf[:size])
    del buf[:size]
    return lines[0], headers, body


def wait_until_seen(handler: Echo, count: int = 1) -> None:
    deadline = time.monotonic() + 5
    while len(handler.seen) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(handler.seen) >= count, "the listener never handed the request over"


def assert_refused_413(s: socket.socket, buf: bytearray, handler: Echo, declared: int | None) -> None:
    """A 413 whose connection then ends, with nothing handed to the handler."""
    status, headers, body = read_answer(s, buf)
    assert (status, headers[b"connection"], body) == (b"HTTP/1.1 413 Request Entity Too Large", b"close", b"too large")
    assert handler.refused == [declared] and handler.seen == []
    assert closed_by_server(s)


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_answers_each_request_on_one_connection(served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    s, buf = connect(listener), bytearray()
    for i in range(3):
        s.sendall(b"POST /webhook?n=%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" % i)
        status, headers, body = read_answer(s, buf)
        assert status == b"HTTP/1.1 200 OK"
        assert body == b"POST /webhook ?n=%d hi" % i
        assert b"connection" not in headers
    s.close()


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_slow(
        served: tuple[Echo, ListenerThread]) -> None:
    handler, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + b"".join(
        b"GET /n%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(20)))  # more than MAX_QUEUED: reading pauses
    wait_until_seen(handler)
    assert [r.path for r in handler.seen] == ["/slow"]  # the others wait their turn
    handler.release.set()
    bodies = [read_answer(s, buf)[2] for _ in range(21)]
    assert bodies == [b"GET /slow ? "] + [b"GET /n%d ? " % i for i in range(20)]
    s.close()


def test_connection_close_and_http_1_0_end_the_connection_after_the_answer(
        served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    for request in (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"GET /a HTTP/1.0\r\n\r\n"):
        s, buf = connect(listener), bytearray()
        s.sendall(request)
        status, headers, body = read_answer(s, buf)
        assert (status, headers[b"connection"], body) == (b"HTTP/1.1 200 OK", b"close", b"GET /a ? ")
        assert closed_by_server(s)
        s.close()


def test_chunked_body_is_read_whole_and_a_percent_encoded_path_decoded(served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"POST /web%68ook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    s.sendall(b"2\r\nde\r\n0\r\n\r\n")
    assert read_answer(s, buf)[2] == b"POST /webhook ? abcde"
    s.close()


def test_expect_100_continue_is_answered_before_the_body_is_sent(served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    status, _, _ = read_answer(s, buf)
    assert status == b"HTTP/1.1 100 Continue"
    s.sendall(b"body")
    assert read_answer(s, buf)[:3:2] == (b"HTTP/1.1 200 OK", b"POST /e ? body")
    s.close()


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(served: tuple[Echo, ListenerThread]) -> None:
    handler, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (LIMIT + 1))
    assert_refused_413(s, buf, handler, LIMIT + 1)
    s.close()


def test_a_chunked_body_growing_over_the_limit_is_refused_as_it_arrives(served: tuple[Echo, ListenerThread]) -> None:
    handler, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"%x\r\n%s\r\n" % (600, b"z" * 600)
    s.sendall(piece + piece)
    assert_refused_413(s, buf, handler, None)
    s.close()


def test_a_request_within_the_limit_answers_before_a_pipelined_refusal(served: tuple[Echo, ListenerThread]) -> None:
    handler, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    wait_until_seen(handler)
    assert [r.path for r in handler.seen] == ["/slow"]  # the refused one is never handed over
    handler.release.set()
    assert read_answer(s, buf)[2] == b"GET /slow ? "
    assert read_answer(s, buf)[0] == b"HTTP/1.1 413 Request Entity Too Large"
    assert closed_by_server(s)
    s.close()


@pytest.mark.parametrize("garbage", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])  # the last: a TLS hello
def test_what_does_not_parse_is_400_and_the_listener_goes_on(served: tuple[Echo, ListenerThread],
                                                             garbage: bytes) -> None:
    _, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(garbage)
    assert read_answer(s, buf)[0] == b"HTTP/1.1 400 Bad Request"
    assert closed_by_server(s)
    s.close()
    s, buf = connect(listener), bytearray()
    s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_answer(s, buf)[2] == b"GET /after ? "
    s.close()


def test_headers_without_end_are_refused(served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"GET / HTTP/1.1\r\n")
    try:
        for _ in range(protocol.MAX_HEAD // 1000 + 2):
            s.sendall(b"X-Pad: " + b"p" * 1000 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert read_answer(s, buf)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    s.close()


def test_head_gets_the_length_without_the_body_and_a_route_that_fails_is_500(
        served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    s = connect(listener)
    s.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    head = s.recv(65536)
    while b"GET /after" not in head:
        head += s.recv(65536)
    first, _, second = head.partition(b"\r\n\r\n")
    assert b"content-length: 10" in first and second.startswith(b"HTTP/1.1 200 OK")  # no body between the two
    s.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_answer(s, bytearray())[0] == b"HTTP/1.1 500 Internal Server Error"
    s.close()


def test_an_upgrade_is_answered_as_http_1_1_and_the_connection_ends(served: tuple[Echo, ListenerThread]) -> None:
    _, listener = served
    s, buf = connect(listener), bytearray()
    s.sendall(b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
              b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    assert read_answer(s, buf)[:3:2] == (b"HTTP/1.1 200 OK", b"GET /u ? ")
    assert closed_by_server(s)
    s.close()


def test_a_quiet_connection_is_let_go(served: tuple[Echo, ListenerThread], monkeypatch: pytest.MonkeyPatch) -> None:
    _, listener = served
    monkeypatch.setattr(protocol, "IDLE_TIMEOUT_S", 0.2)
    s = connect(listener)
    s.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing
    s.settimeout(5)
    started = time.monotonic()
    assert closed_by_server(s)
    assert time.monotonic() - started < 4
    s.close()


def test_a_stop_lets_the_request_in_hand_answer_then_closes(served: tuple[Echo, ListenerThread]) -> None:
    handler, listener = served
    s, buf = connect(listener), bytearray()
    idle = connect(listener)
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until_seen(handler)
    stopping = threading.Thread(target=listener.stop)
    stopping.start()
    assert closed_by_server(idle)  # nothing in hand: let go at once
    handler.release.set()
    status, headers, body = read_answer(s, buf)
    assert (status, headers[b"connection"], body) == (b"HTTP/1.1 200 OK", b"close", b"GET /slow ? ")
    stopping.join(10)
    assert not stopping.is_alive() and not listener.alive
    with pytest.raises(OSError):
        connect(listener)
    s.close()
    idle.close()


def test_each_answer_is_one_write() -> None:
    """Head and body in one send(): one packet the client wakes up for, not two."""
    writes: list[bytes] = []

    class Counting(protocol.HttpProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            real = transport.write  # type: ignore[attr-defined]

            def counted(data: bytes) -> None:
                writes.append(bytes(data))
                real(data)

            transport.write = counted  # type: ignore[attr-defined]
            super().connection_made(transport)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Counting(Echo(), protocol.Connections(), loop), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            writer.write(b"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nq")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK")
            await reader.readexactly(11)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
    assert len(writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b"\r\n\r\nPOST /w ? q") for w in writes)
