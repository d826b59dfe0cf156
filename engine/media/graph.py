"""Talking to the Graph API's media endpoints, with every failure translated and classified."""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from engine.errors import PermanentMediaError, TransientMediaError
from engine.media.reasons import FailureReason as R

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


# Graph error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling and the WhatsApp
# Cloud API error codes). Graph answers many of them with HTTP 400, so the code decides, not the status.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
AUTH_CODES = frozenset({10, 102, 190, *range(200, 300)})
MAX_RETRY_AFTER = 15 * 60.0  # a server asking for longer is not believed: the owner would think it hung


@dataclass(frozen=True)
class GraphError:
    """What an error answer says: Graph's JSON error object when there is one."""

    status: int
    message: str
    code: int | None
    is_transient: bool
    retry_after: float | None

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})" if self.code is not None else self.message


def retry_after(resp: requests.Response) -> float | None:
    """The Retry-After header in seconds (delta or HTTP date), capped; None when absent or unreadable."""
    value = (resp.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def read_error(resp: requests.Response) -> GraphError:
    err: dict[str, Any] = {}
    try:
        body = resp.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
    except ValueError:
        pass
    try:
        code = int(err["code"]) if err.get("code") is not None else None
    except (TypeError, ValueError):
        code = None
    return GraphError(status=resp.status_code, message=str(err.get("message") or resp.reason or
                                                           f"HTTP {resp.status_code}"),
                      code=code, is_transient=bool(err.get("is_transient")), retry_after=retry_after(resp))


def classify(err: GraphError) -> PermanentMediaError | TransientMediaError:
    """Whether another attempt can help: throttling and auth by code or status, then 404/410 (gone), then
    Graph's transient codes (it answers "temporarily unavailable" as a 400 too), then the status."""
    if err.status == 429 or err.code in RATE_LIMIT_CODES:
        return TransientMediaError(f"WhatsApp asked us to slow down: {err}", reason=R.RATE_LIMITED,
                                   retry_after=err.retry_after)
    if err.status in (401, 403) or err.code in AUTH_CODES:
        return PermanentMediaError(f"WhatsApp refused the access token: {err}", reason=R.AUTH)
    if err.status in (404, 410):  # not found is not found, whatever code rides along
        return PermanentMediaError(f"the media is gone at WhatsApp: {err}", reason=R.GONE)
    if err.status >= 500 or err.status == 408 or err.is_transient or err.code in TRANSIENT_CODES:
        return TransientMediaError(f"WhatsApp answered {err.status}: {err}", reason=R.SERVER,
                                   retry_after=err.retry_after)
    return PermanentMediaError(f"the media is gone at WhatsApp: {err}", reason=R.GONE)


def fetch_media_info(graph_url: str, version: str, media_id: str, token: str | None) -> MediaInfo:
    """GET {graph}/{version}/{media_id}: a fresh, short-lived download URL plus size and sha256."""
    if not token:
        raise PermanentMediaError("no access token is configured for this workspace", reason=R.AUTH)
    url = f"{graph_url}/{version}/{media_id}"
    try:
        resp = session().get(url, headers={"Authorization": f"Bearer {token}"},
                             timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except requests.Timeout as exc:
        raise TransientMediaError(f"WhatsApp did not answer in time: {exc}", reason=R.TIMEOUT) from exc
    except requests.RequestException as exc:
        raise TransientMediaError(f"could not reach WhatsApp: {exc}", reason=R.NETWORK) from exc
    if resp.status_code != 200:
        raise classify(read_error(resp))
    try:
        data: dict[str, Any] = resp.json()
        size = data.get("file_size")
        return MediaInfo(url=str(data["url"]), mime_type=data.get("mime_type"), sha256=data.get("sha256"),
                         file_size=int(size) if size not in (None, "") else None)
    except (ValueError, KeyError, TypeError) as exc:
        raise TransientMediaError(f"WhatsApp's media answer was not understood: {exc}", reason=R.SERVER) from exc


def declared_hex(expected: str | None) -> str | None:
    """Meta's sha256 (hex or base64) as lowercase hex; None when absent or neither form."""
    if not expected:
        return None
    expected = expected.strip()
    if len(expected) == 64 and all(c in "0123456789abcdefABCDEF" for c in expected):
        return expected.lower()
    try:
        raw = base64.b64decode(expected + "=" * (-len(expected) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def digest_matches(expected: str | None, actual: bytes) -> bool:
    """Meta writes sha256 as hex or as base64; accept either form of the same digest."""
    return not expected or declared_hex(expected) == actual.hex()
