"""One write per response: uvicorn's HTTP protocol with the status line, headers and body sent in one segment.

uvicorn writes a response's head and its body with two `transport.write` calls. On a socket with TCP_NODELAY
each is a `send()` of its own and a packet of its own, which the client wakes up for twice: at thousands of
webhooks a second, on two cores shared with the client, that second system call per request is a measurable
part of the listener's time. So the head is held for the rest of the loop's turn: the body that follows in the
same turn goes out with it in one `send()`, and a head with no body yet goes out when the turn ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWrites:
    """A transport whose writes of one loop turn reach the socket as one (order kept; everything else passes)."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_extra_info, is_closing, set_protocol, ...
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through `JoinedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
