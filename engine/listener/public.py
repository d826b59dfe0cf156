"""What a public address (the built-in tunnel) reaches: `/webhook`, and nothing else.

A tunnel's traffic arrives from loopback like the owner's own browser, so the listener cannot tell a stranger
from the owner by address: the tunnel gets a listener of its own, serving this app, and `/healthz` (queue
lengths, database state) stays on the listener only this computer reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.listener.app import _TEXT, WebhookApp, _answer


class WebhookOnlyApp:
    """`WebhookApp` behind a door that opens for `/webhook` only. `app` may be swapped while serving
    (new verify token or app secret): one attribute store, atomic for the event loop reading it."""

    def __init__(self, app: WebhookApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] != "/webhook":
            return await _answer(send, 404, b"not found", _TEXT)
        return await self.app(scope, receive, send)
