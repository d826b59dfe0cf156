"""Deliver webhook bodies to a listener the way Meta does: JSON POSTs signed with the app secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from types import TracebackType
from typing import Any

import requests

META_USER_AGENT = "facebookexternalua"


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value for a raw body: `sha256=` + hex HMAC-SHA256 with the secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise like Meta: compact JSON, non-ASCII escaped (emoji arrive as \\ud83d\\ude00)."""
    return json.dumps(payload, separators=(",", ":")).encode()


class WebhookSender:
    """POSTs webhook bodies to one URL over a kept-alive session, signing each one.

    The signature covers the exact bytes sent, so a listener that re-serialises before checking
    fails, as it would with Meta.
    """

    def __init__(self, url: str, app_secret: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.app_secret = app_secret
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": META_USER_AGENT, "Content-Type": "application/json"})

    def send(self, payload: dict[str, Any] | bytes) -> int:
        """Deliver one body (a dict, or raw bytes sent verbatim) and return the HTTP status."""
        body = payload if isinstance(payload, bytes) else encode(payload)
        response = self._session.post(
            self.url, data=body, timeout=self.timeout,
            headers={"X-Hub-Signature-256": sign(body, self.app_secret)},
        )
        return response.status_code

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
