"""The webhook listener's routes: whole requests in, answers out (served by `engine.listener.protocol`).

No framework: four routes, and every microsecond per request is throughput Meta can see.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from engine.dbfaults import WriteRefused
from engine.ingest import parse_webhook
from engine.listener.prometheus import CONTENT_TYPE, ListenerMetrics
from engine.listener.protocol import Request, Response
from engine.listener.writer import GroupCommitWriter

log = logging.getLogger(__name__)

_JSON = b"application/json"
_METRICS = CONTENT_TYPE.encode()


class WebhookApp:
    """The routes: `GET /webhook` (verify), `POST /webhook` (signed bodies), `GET /healthz`, `GET /metrics`."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        *,
        app_secret: str | None,
        verify_token: str | None,
        max_body_bytes: int = 1024 * 1024,
        health: Callable[[], dict[str, Any]] | None = None,
        refusing: Callable[[], WriteRefused | None] | None = None,
        metrics: ListenerMetrics | None = None,
    ) -> None:
        self.writer = writer
        self.secret = app_secret.encode() if app_secret else None
        self.verify_token = verify_token
        self.max_body = max_body_bytes
        self.health = health
        # Asked before each write: a reason to refuse every webhook up front (maintenance), or None.
        self.refusing = refusing
        self.metrics = metrics or ListenerMetrics()
        if not self.secret:
            log.warning("no app secret is set: webhook signatures are NOT checked")

    async def handle(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/webhook":
            if method == "POST":
                return await self._post(request)
            if method in ("GET", "HEAD"):
                return self._verify(request.query)
            return Response(405, b"method not allowed")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return await self._healthz()
        if path == "/metrics" and method == "GET":
            body = await asyncio.get_running_loop().run_in_executor(None, self.metrics.render)
            return Response(200, body, _METRICS)
        return Response(404, b"not found")

    def too_large(self, declared: int | None) -> Response:
        """The answer to a body over the limit: declared so up front, or found so while it arrived."""
        self.metrics.received.inc()
        if declared is None:
            log.warning("webhook refused: body over the %d byte limit", self.max_body)
        else:
            log.warning("webhook refused: body of %d bytes is over the %d byte limit", declared, self.max_body)
        self.metrics.refuse("too_large")
        return Response(413, b'{"error":"body too large"}', _JSON, close=True)

    def _verify(self, query: bytes) -> Response:
        q = parse_qs(query.decode("latin-1"))
        mode = q.get("hub.mode", [""])[0]
        token = q.get("hub.verify_token", [""])[0]
        challenge = q.get("hub.challenge", [""])[0]
        ok = bool(self.verify_token) and mode == "subscribe" and hmac.compare_digest(
            token.encode(), self.verify_token.encode()
        )
        if not ok:
            log.warning("webhook verification refused: wrong verify token or mode")
            return Response(403, b"verify token does not match")
        return Response(200, challenge.encode())

    async def _post(self, request: Request) -> Response:
        self.metrics.received.inc()
        body = request.body
        if self.secret is not None:
            given = request.headers.get(b"x-hub-signature-256", b"").decode("latin-1").strip()
            expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            if not given:
                log.warning("webhook refused: no X-Hub-Signature-256 header")
                self.metrics.refuse("signature_missing")
                return Response(401, b'{"error":"signature missing"}', _JSON)
            if not hmac.compare_digest(given.lower().encode(), expected.encode()):
                log.warning("webhook refused: X-Hub-Signature-256 does not match the app secret")
                self.metrics.refuse("signature_mismatch")
                return Response(403, b'{"error":"signature does not match"}', _JSON)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("webhook refused: malformed JSON (%s)", exc)
            self.metrics.refuse("malformed_json")
            return Response(400, b'{"error":"malformed JSON"}', _JSON)
        parsed = parse_webhook(payload)
        if parsed.empty:
            # 200 all the same: Meta would otherwise retry a body we can never use, for days.
            if parsed.errors:
                log.warning("Meta sent an error instead of a message: %s", parsed.ignored)
            else:
                log.info("webhook ignored: %s", parsed.ignored)
            return Response(200, b'{"ok":true,"stored":0}', _JSON)
        refused = self.refusing() if self.refusing else None
        try:
            if refused is not None:
                raise refused
            result = await self.writer.submit(parsed)
        except WriteRefused as exc:
            # A cause that goes away (disk full, schema being migrated): Meta delivers it again later.
            out = json.dumps({"error": "could not store the webhook now", "reason": exc.reason,
                              "detail": str(exc)}).encode()
            return Response(503, out, _JSON, [(b"retry-after", str(exc.retry_after).encode())])
        except Exception:
            # 500 makes Meta deliver it again later: nothing is lost.
            self.metrics.refuse("not_stored")
            return Response(500, b'{"error":"could not store the webhook"}', _JSON)
        out = b'{"ok":true,"stored":%d}' % (result.messages + result.statuses)
        return Response(200, out, _JSON)

    async def _healthz(self) -> Response:
        info: dict[str, Any] = {"listener": "ok"}
        if self.health:
            try:
                info.update(await asyncio.get_running_loop().run_in_executor(None, self.health))
            except Exception as exc:
                info.update(status="error", error=str(exc))
        info.setdefault("status", "ok")
        return Response(200, json.dumps(info, default=str).encode(), _JSON)
