"""What a public address (the built-in tunnel) reaches: `/webhook`, and nothing else.

A tunnel's traffic arrives from loopback like the owner's own browser, so the listener cannot tell a stranger
from the owner by address: the tunnel gets a listener of its own, serving this app, and `/healthz` (queue
lengths, database state) stays on the listener only this computer reaches.
"""

from __future__ import annotations

from engine.listener.app import WebhookApp
from engine.listener.protocol import Request, Response


class WebhookOnlyApp:
    """`WebhookApp` behind a door that opens for `/webhook` only. `app` may be swapped while serving
    (new verify token or app secret): one attribute store, atomic for the event loop reading it."""

    def __init__(self, app: WebhookApp) -> None:
        self.app = app

    @property
    def max_body(self) -> int:
        return self.app.max_body

    def too_large(self, declared: int | None) -> Response:
        return self.app.too_large(declared)

    async def handle(self, request: Request) -> Response:
        if request.path != "/webhook":
            return Response(404, b"not found")
        return await self.app.handle(request)
