"""Graph's error answers, classified by error code first: Graph sends most errors, throttling included, as 400."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from engine.errors import PermanentMediaError, TransientMediaError
from engine.media import graph
from engine.media.graph import MAX_RETRY_AFTER, GraphError, classify, fetch_media_info, read_error
from engine.simulator import CloudSimulator, Fault


def error(status: int, code: int | None = None, *, transient: bool = False, retry_after: float | None = None):
    return GraphError(status=status, message="m", code=code, is_transient=transient, retry_after=retry_after)


@pytest.mark.parametrize(("err", "kind", "reason"), [
    (error(400, 80007), TransientMediaError, "rate_limited"),  # WhatsApp's "rate limit issues", as a 400
    (error(400, 4), TransientMediaError, "rate_limited"),  # app request limit
    (error(400, 130429), TransientMediaError, "rate_limited"),  # Cloud API throughput reached
    (error(429), TransientMediaError, "rate_limited"),
    (error(400, 190), PermanentMediaError, "auth"),  # token expired, sometimes answered 400
    (error(401, 190), PermanentMediaError, "auth"),
    (error(403, 10), PermanentMediaError, "auth"),
    (error(400, 100), PermanentMediaError, "gone"),  # "Object with ID ... does not exist"
    (error(404, 100), PermanentMediaError, "gone"),
    (error(404, 1), PermanentMediaError, "gone"),  # a 404 is not retried, even with "unknown error" (code 1)
    (error(410, None), PermanentMediaError, "gone"),
    (error(400, 2, transient=True), TransientMediaError, "server"),  # "Service temporarily unavailable"
    (error(400, 131000), TransientMediaError, "server"),  # "Something went wrong"
    (error(500, None), TransientMediaError, "server"),
    (error(503, 2), TransientMediaError, "server"),
])
def test_graph_errors_are_classified_by_code_then_status(err, kind, reason) -> None:
    exc = classify(err)
    assert type(exc) is kind
    assert exc.reason == reason


def test_retry_after_is_read_as_seconds_or_http_date_and_capped() -> None:
    def answer(value: str) -> requests.Response:
        resp = requests.Response()
        resp.status_code = 429
        resp.headers["Retry-After"] = value
        resp._content = b'{"error": {"message": "slow down", "code": 80007}}'
        return resp

    assert read_error(answer("7")).retry_after == 7.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < read_error(answer(soon)).retry_after <= 120
    assert read_error(answer("86400")).retry_after == MAX_RETRY_AFTER
    assert read_error(answer("whenever")).retry_after is None
    err = read_error(answer("3"))
    assert (err.code, err.message) == (80007, "slow down")
    assert classify(err).retry_after == 3.0


def test_a_non_json_error_body_is_still_classified() -> None:
    resp = requests.Response()
    resp.status_code = 502
    resp.reason = "Bad Gateway"
    resp._content = b"<html>bad gateway</html>"
    err = read_error(resp)
    assert (err.code, err.message) == (None, "Bad Gateway")
    assert isinstance(classify(err), TransientMediaError)


def test_the_simulator_throttles_with_retry_after_and_the_client_says_so() -> None:
    with CloudSimulator() as sim:
        sim.add_media("RL1", "image/jpeg", fault=Fault(rate_limit_first=1, retry_after_s=2))
        with pytest.raises(TransientMediaError) as caught:
            fetch_media_info(sim.base_url, sim.version, "RL1", sim.access_token)
        assert caught.value.reason == "rate_limited"
        assert caught.value.retry_after == 2.0
        info = fetch_media_info(sim.base_url, sim.version, "RL1", sim.access_token)
        assert info.file_size == sim.media("RL1").file_size


def test_metas_sha256_reads_as_hex_or_base64_and_anything_else_is_none() -> None:
    raw = hashlib.sha256(b"a photo").digest()
    assert graph.declared_hex(raw.hex().upper()) == raw.hex()
    assert graph.declared_hex(base64.b64encode(raw).decode()) == raw.hex()
    assert graph.declared_hex(base64.b64encode(raw).decode().rstrip("=")) == raw.hex()  # unpadded, as Meta sends
    assert graph.declared_hex(None) is None and graph.declared_hex("") is None
    assert graph.declared_hex("not a digest") is None
    assert graph.declared_hex(base64.b64encode(b"short").decode()) is None
    assert graph.digest_matches(base64.b64encode(raw).decode(), raw)
