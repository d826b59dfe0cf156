"""Talking to the Graph API's media endpoints, with every failure translated and classified."""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from typing import Any

import requests

from engine.errors import PermanentMediaError, TransientMediaError

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
_local = threading.local()


def session() -> requests.Session:
    """One keep-alive session per worker thread (requests.Session is not thread-safe)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
    return s


@dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None


def _graph_error(resp: requests.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"{err.get('message') or resp.reason} (code {err.get('code')})"
    except ValueError:
        return resp.reason or f"HTTP {resp.status_code}"


def fetch_media_info(graph_url: str, version: str, media_id: str, token: str | None) -> MediaInfo:
    """GET {graph}/{version}/{media_id}: a fresh, short-lived download URL plus size and sha256."""
    if not token:
        raise PermanentMediaError("no access token is configured for this workspace", reason="auth")
    url = f"{graph_url}/{version}/{media_id}"
    try:
        resp = session().get(url, headers={"Authorization": f"Bearer {token}"},
                             timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except requests.Timeout as exc:
        raise TransientMediaError(f"WhatsApp did not answer in time: {exc}", reason="timeout") from exc
    except requests.RequestException as exc:
        raise TransientMediaError(f"could not reach WhatsApp: {exc}", reason="network") from exc
    if resp.status_code in (401, 403):
        raise PermanentMediaError(f"WhatsApp refused the access token: {_graph_error(resp)}", reason="auth")
    if resp.status_code in (400, 404, 410):
        raise PermanentMediaError(f"the media is gone at WhatsApp: {_graph_error(resp)}", reason="gone")
    if resp.status_code != 200:
        raise TransientMediaError(f"WhatsApp answered {resp.status_code}: {_graph_error(resp)}", reason="server")
    try:
        data: dict[str, Any] = resp.json()
        size = data.get("file_size")
        return MediaInfo(url=str(data["url"]), mime_type=data.get("mime_type"), sha256=data.get("sha256"),
                         file_size=int(size) if size not in (None, "") else None)
    except (ValueError, KeyError, TypeError) as exc:
        raise TransientMediaError(f"WhatsApp's media answer was not understood: {exc}", reason="server") from exc


def digest_matches(expected: str | None, actual: bytes) -> bool:
    """Meta writes sha256 as hex or as base64; accept either form of the same digest."""
    if not expected:
        return True
    expected = expected.strip()
    if expected.lower() == actual.hex():
        return True
    try:
        return base64.b64decode(expected + "=" * (-len(expected) % 4), validate=False) == actual
    except (binascii.Error, ValueError):
        return False
