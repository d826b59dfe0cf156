"""The built-in tunnel: a public https address for the webhook, behind one small seam.

    TunnelProvider.open(local_address, *, authtoken, domain) -> OpenedTunnel(url, close)

`NgrokTunnels` is the real provider: the ngrok Agent SDK, in this process (no ngrok binary to install), with
the owner's authtoken and, if they reserved one, a static domain. `LoopbackTunnels` hands back the local
address itself: the double for tests and the simulator, where Meta is on this computer too.

What the public address reaches is a listener of its own on another loopback port (`open_tunnel`), serving
`/webhook` only, so `/healthz` never leaves the computer. It is never opened without an app secret: without
one, anyone who found the address could post forged messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.config import Config
from engine.errors import TunnelError
from engine.ingest import IngestResult, WebhookStore
from engine.listener import GroupCommitWriter, ListenerThread, WebhookApp, writer_for
from engine.listener.public import WebhookOnlyApp

log = logging.getLogger(__name__)
NGROK_SIGNUP = "dashboard.ngrok.com > Your Authtoken"


@dataclass(frozen=True)
class OpenedTunnel:
    url: str  # https://…, without a path
    close: Callable[[], None]


class TunnelProvider(Protocol):
    name: str

    def open(self, local_address: str, *, authtoken: str | None, domain: str | None) -> OpenedTunnel:
        """Forward a public address to `local_address` (host:port); TunnelError, in words, when it cannot."""
        ...


class NgrokTunnels:
    """ngrok's Agent SDK (`ngrok.forward`)."""

    name = "ngrok"

    def open(self, local_address: str, *, authtoken: str | None, domain: str | None) -> OpenedTunnel:
        try:
            import ngrok
        except ImportError as exc:
            raise TunnelError("the built-in tunnel needs the ngrok package, which is not installed here "
                              "(pip install ngrok); or give your own https address", reason="missing") from exc
        if not authtoken:
            raise TunnelError(f"the built-in tunnel needs your ngrok authtoken (free, at {NGROK_SIGNUP})",
                              reason="authtoken")
        options: dict[str, object] = {"authtoken": authtoken, "proto": "http"}
        if domain:
            options["domain"] = domain
        try:
            listener = ngrok.forward(local_address, **options)
            url = str(listener.url())
        except (ValueError, RuntimeError, OSError) as exc:  # the SDK raises ValueError(message, cause[, code])
            raise ngrok_refusal(exc, domain=domain) from exc

        def close() -> None:
            ngrok.disconnect(url)

        return OpenedTunnel(url, close)


def ngrok_refusal(exc: BaseException, *, domain: str | None) -> TunnelError:
    """ngrok's error, as the sentence the owner can act on."""
    words = "; ".join(str(a) for a in exc.args) or type(exc).__name__
    code = re.search(r"ERR_NGROK_(\d+)", words)
    number = int(code.group(1)) if code else None
    if number in (105, 106, 107) or "authtoken" in words.lower() or "authentication failed" in words.lower():
        return TunnelError(f"ngrok refused the authtoken ({words}): copy it again from {NGROK_SIGNUP}",
                           reason="authtoken")
    if number == 108:
        return TunnelError(f"ngrok allows one tunnel at a time on this account, and another is open ({words}); "
                           "close it, or give your own https address", reason="tunnel")
    if domain and ("domain" in words.lower() or number in (313, 320, 326)):
        return TunnelError(f"ngrok would not give this account the domain {domain} ({words}); check it is "
                           "reserved under Domains in the ngrok dashboard, or leave the domain empty",
                           reason="domain")
    if "tcp connection" in words or "dns" in words.lower() or "timed out" in words.lower():
        return TunnelError(f"could not reach ngrok ({words}): check the internet connection; webhooks on this "
                           "computer keep working", reason="network")
    return TunnelError(f"ngrok could not open the tunnel: {words}", reason="tunnel")


class LoopbackTunnels:
    """A 'tunnel' whose public address is the local one: Meta's stand-in on this computer reaches it as is."""

    name = "loopback"

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []

    def open(self, local_address: str, *, authtoken: str | None, domain: str | None) -> OpenedTunnel:
        url = f"http://{local_address}"
        self.opened.append(url)
        return OpenedTunnel(url, lambda: self.closed.append(url))


def webhook_app(writer: GroupCommitWriter, cfg: Config) -> WebhookApp:
    return WebhookApp(writer, app_secret=cfg.app_secret, verify_token=cfg.verify_token,
                      max_body_bytes=cfg.max_body_bytes)


class PublicTunnel:
    """An open tunnel and the webhook-only listener behind it."""

    def __init__(self, provider: str, listener: ListenerThread, app: WebhookOnlyApp, writer: GroupCommitWriter,
                 opened: OpenedTunnel) -> None:
        self.provider, self.listener, self.app, self.writer, self._opened = provider, listener, app, writer, opened

    @property
    def url(self) -> str:
        return self._opened.url.rstrip("/")

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhook"

    def use(self, cfg: Config) -> None:
        """New app secret or verify token: the next request sees them, the port and address stay."""
        self.app.app = webhook_app(self.writer, cfg)

    def close(self) -> None:
        try:
            self._opened.close()
        except Exception as exc:  # the SDK's own failure to let go: the listener still stops below
            log.warning("the %s tunnel did not close cleanly: %s", self.provider, exc)
        self.listener.stop()
        self.writer.close()
        log.info("closed the public address %s", self.url)


def open_tunnel(cfg: Config, store: WebhookStore, *, on_committed: Callable[[list[IngestResult]], None],
                provider: TunnelProvider, authtoken: str | None, domain: str | None) -> PublicTunnel:
    """A webhook-only listener on a free loopback port, and a public address forwarded to it."""
    if not cfg.app_secret:
        raise TunnelError("MediaDesk will not open a public address without the app secret (Meta app > App "
                          "settings > Basic): it checks that each webhook really comes from Meta", reason="secret")
    # Its own writer: a writer commits on its listener's event loop, and this listener has a loop of its own.
    writer = writer_for(store, on_committed=on_committed)
    app = WebhookOnlyApp(webhook_app(writer, cfg))
    listener = ListenerThread(app, host="127.0.0.1", port=0)
    listener.start()
    try:
        opened = provider.open(f"127.0.0.1:{listener.port}", authtoken=authtoken, domain=domain or None)
    except TunnelError:
        listener.stop()
        raise
    except Exception as exc:
        listener.stop()
        raise TunnelError(f"the {provider.name} tunnel could not open: {exc}") from exc
    log.info("public address %s forwards to %s (webhook only)", opened.url, listener.address)
    return PublicTunnel(provider.name, listener, app, writer, opened)
