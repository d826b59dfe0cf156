"""A response's head and body reach the socket in one write: over real HTTP on loopback, and write by write."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from engine.listener.one_write import JoinedWrites, OneWriteHttpProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_of_one_turn_are_joined_and_a_lone_head_goes_out_when_the_turn_ends() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        fake = FakeTransport()
        joined = JoinedWrites(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(b"body")
        both = list(fake.writes)
        joined.write(b"head only")
        before_turn_ends = list(fake.writes)
        await asyncio.sleep(0)
        return both, before_turn_ends, list(fake.writes)

    both, before, after = asyncio.run(scenario())
    assert both == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    assert before == both  # held for the rest of the turn
    assert after == [*both, b"head only"]


def test_close_sends_what_is_held_first_and_other_calls_pass_through() -> None:
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        joined = JoinedWrites(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        assert joined.get_extra_info("peername") == "info:peername"
        joined.write(b"last words")
        joined.close()
        joined.write(b"too late")  # held, then dropped: the transport is closing when the turn ends
        await asyncio.sleep(0)
        return fake

    fake = asyncio.run(scenario())
    assert fake.writes == [b"last words"] and fake.closed


class CountingProtocol(OneWriteHttpProtocol):
    writes: list[bytes] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        real_write = transport.write

        def counted(data: bytes) -> None:
            CountingProtocol.writes.append(bytes(data))
            real_write(data)

        transport.write = counted  # type: ignore[method-assign]
        super().connection_made(transport)


async def tiny_app(scope: dict, receive, send) -> None:  # noqa: ANN001 - ASGI's callables
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_each_response_is_one_socket_write_over_real_http() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(tiny_app, http=CountingProtocol, lifespan="off", log_level="warning"))
    CountingProtocol.writes = []

    async def scenario() -> list[bytes]:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        for _ in range(3):  # keep-alive: three requests on one connection
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            answers.append(head + await reader.readexactly(5))
        writer.close()
        server.should_exit = True
        await serving
        return answers

    answers = asyncio.run(scenario())
    sock.close()
    assert all(a.startswith(b"HTTP/1.1 200 OK") and a.endswith(b"hello") for a in answers)
    assert len(CountingProtocol.writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b"\r\n\r\nhello") for w in CountingProtocol.writes)
