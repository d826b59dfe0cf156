"""Running the listener: an event loop of its own in a thread, the same in the desktop app and in `mediadesk serve`."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading

from engine.errors import ConfigError
from engine.listener.protocol import Connections, Handler, HttpProtocol

log = logging.getLogger(__name__)
SHUTDOWN_WAIT_S = 5.0  # a stop lets the requests in hand finish (their webhooks are being stored) this long


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop (libuv, in C) where it is installed: measured, about a tenth more webhooks a second."""
    try:
        import uvloop
    except ImportError:  # Windows: no build
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ListenerThread:
    """Serves a handler (`WebhookApp`) on host:port from a daemon thread; `start()` returns once it listens."""

    def __init__(self, app: Handler, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        try:
            self._sock = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                hint = " (is MediaDesk already running? choose another port in Settings or with --port)"
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from exc
        # Accepted sockets inherit this: without it an answer written after the client's last ACK can wait for
        # its delayed ACK (40 ms on Linux) before it goes out.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self._sock.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections = Connections()
        self._started = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="mediadesk-listener", daemon=True)

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        loop = new_loop()
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(loop.create_server(
                lambda: HttpProtocol(self.app, self._connections, loop), sock=self._sock, backlog=1024))
        except BaseException as exc:
            self._failed = exc
            self._started.set()
            loop.close()
            return
        self._loop = loop
        self._started.set()
        try:
            loop.run_forever()
            server.close()
            self._connections.close_all()
            loop.run_until_complete(self._drain())
        except Exception:
            log.exception("the webhook listener stopped")
        finally:
            self._loop = None
            loop.close()

    async def _drain(self) -> None:
        deadline = asyncio.get_running_loop().time() + SHUTDOWN_WAIT_S
        while self._connections.busy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        self._connections.close_all()

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._started.wait(timeout) or self._failed is not None or self._loop is None:
            detail = f": {self._failed}" if self._failed is not None else ""
            raise ConfigError(f"the webhook listener could not start on {self.address}{detail}")
        log.info("listening for webhooks on %s/webhook", self.address)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._loop is not None

    def stop(self) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # closed meanwhile
                pass
        if self._thread.is_alive():
            self._thread.join(timeout=SHUTDOWN_WAIT_S + 5)
        self._sock.close()
