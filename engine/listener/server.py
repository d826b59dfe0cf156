"""Running the listener: uvicorn in a thread, the same in the desktop app and in `mediadesk serve`."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

import uvicorn

from engine.errors import ConfigError
from engine.listener.app import WebhookApp
from engine.listener.one_write import OneWriteHttpProtocol

log = logging.getLogger(__name__)


class ListenerThread:
    """Serves a WebhookApp on host:port from a daemon thread; `start()` returns once it listens."""

    def __init__(self, app: WebhookApp, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        try:
            self._sock = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                hint = " (is MediaDesk already running? choose another port in Settings or with --port)"
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from exc
        # Accepted sockets inherit this: without it a response written as headers + body waits for the
        # client's delayed ACK (40 ms on Linux) before the body goes out.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", http=OneWriteHttpProtocol,
            loop="auto", timeout_keep_alive=30, server_header=False, date_header=False, proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="mediadesk-listener", daemon=True)

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except Exception:
            log.exception("the webhook listener stopped")

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        # uvicorn offers no "started" event to wait on, only a flag; the socket is already bound, so this
        # is the few milliseconds its loop takes to begin serving.
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not self._server.started:
            raise ConfigError(f"the webhook listener could not start on {self.address}")
        log.info("listening for webhooks on %s/webhook", self.address)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._server.started

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
