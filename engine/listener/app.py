"""The webhook listener as a plain ASGI application (served by uvicorn; see `engine.listener.server`).

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
from engine.listener.writer import GroupCommitWriter

log = logging.getLogger(__name__)

_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class WebhookApp:
    """ASGI app: `GET /webhook` (verify), `POST /webhook` (signed bodies), `GET /healthz`, `GET /metrics`."""

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

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/webhook":
            if method == "POST":
                return await self._post(scope, receive, send)
            if method in ("GET", "HEAD"):
                return await self._verify(scope, send)
            return await _answer(send, 405, b"method not allowed", _TEXT)
        if path == "/healthz" and method in ("GET", "HEAD"):
            return await self._healthz(send)
        if path == "/metrics" and method == "GET":
            body = await asyncio.get_running_loop().run_in_executor(None, self.metrics.render)
            return await _answer(send, 200, body, [(b"content-type", CONTENT_TYPE.encode())])
        return await _answer(send, 404, b"not found", _TEXT)

    async def _verify(self, scope: dict[str, Any], send: Callable) -> None:
        q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        mode = q.get("hub.mode", [""])[0]
        token = q.get("hub.verify_token", [""])[0]
        challenge = q.get("hub.challenge", [""])[0]
        ok = bool(self.verify_token) and mode == "subscribe" and hmac.compare_digest(
            token.encode(), self.verify_token.encode()
        )
        if not ok:
            log.warning("webhook verification refused: wrong verify token or mode")
            return await _answer(send, 403, b"verify token does not match", _TEXT)
        return await _answer(send, 200, challenge.encode(), _TEXT)

    async def _post(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        self.metrics.received.inc()
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            log.warning("webhook refused: body of %s bytes is over the %d byte limit", declared, self.max_body)
            self.metrics.refuse("too_large")
            return await _answer(send, 413, b'{"error":"body too large"}', _JSON, close=True)
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                log.warning("webhook refused: body over the %d byte limit", self.max_body)
                self.metrics.refuse("too_large")
                return await _answer(send, 413, b'{"error":"body too large"}', _JSON, close=True)
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        body = b"".join(chunks)
        if self.secret is not None:
            given = (_header(scope, b"x-hub-signature-256") or "").strip()
            expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            if not given:
                log.warning("webhook refused: no X-Hub-Signature-256 header")
                self.metrics.refuse("signature_missing")
                return await _answer(send, 401, b'{"error":"signature missing"}', _JSON)
            if not hmac.compare_digest(given.lower().encode(), expected.encode()):
                log.warning("webhook refused: X-Hub-Signature-256 does not match the app secret")
                self.metrics.refuse("signature_mismatch")
                return await _answer(send, 403, b'{"error":"signature does not match"}', _JSON)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("webhook refused: malformed JSON (%s)", exc)
            self.metrics.refuse("malformed_json")
            return await _answer(send, 400, b'{"error":"malformed JSON"}', _JSON)
        parsed = parse_webhook(payload)
        if parsed.empty:
            # 200 all the same: Meta would otherwise retry a body we can never use, for days.
            if parsed.errors:
                log.warning("Meta sent an error instead of a message: %s", parsed.ignored)
            else:
                log.info("webhook ignored: %s", parsed.ignored)
            return await _answer(send, 200, b'{"ok":true,"stored":0}', _JSON)
        refused = self.refusing() if self.refusing else None
        try:
            if refused is not None:
                raise refused
            result = await self.writer.submit(parsed)
        except WriteRefused as exc:
            # A cause that goes away (disk full, schema being migrated): Meta delivers it again later.
            body = json.dumps({"error": "could not store the webhook now", "reason": exc.reason,
                               "detail": str(exc)}).encode()
            return await _answer(send, 503, body, [*_JSON, (b"retry-after", str(exc.retry_after).encode())])
        except Exception:
            # 500 makes Meta deliver it again later: nothing is lost.
            self.metrics.refuse("not_stored")
            return await _answer(send, 500, b'{"error":"could not store the webhook"}', _JSON)
        out = b'{"ok":true,"stored":%d}' % (result.messages + result.statuses)
        return await _answer(send, 200, out, _JSON)

    async def _healthz(self, send: Callable) -> None:
        info: dict[str, Any] = {"listener": "ok"}
        if self.health:
            try:
                info.update(await asyncio.get_running_loop().run_in_executor(None, self.health))
            except Exception as exc:
                info.update(status="error", error=str(exc))
        info.setdefault("status", "ok")
        return await _answer(send, 200, json.dumps(info, default=str).encode(), _JSON)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


async def _answer(send: Callable, status: int, body: bytes, headers: list, *, close: bool = False) -> None:
    hs = [*headers, (b"content-length", str(len(body)).encode())]
    if close:
        hs.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": hs})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Callable, send: Callable) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
