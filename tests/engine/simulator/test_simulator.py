"""The Cloud simulator keeps Meta's media contract and misbehaves exactly as its faults say.

Everything goes over real HTTP on loopback, as the engine's downloader will talk to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, IncompleteRead
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from xml.dom import minidom

import filetype
import pytest
import requests

import engine.simulator as simulator
from engine.simulator import (
    OVERSIZE_BYTES,
    PRESETS,
    CloudSimulator,
    Fault,
    WebhookSender,
    demo_events,
    error_message_131052,
    media_message,
    message_of,
    sample_bytes,
    status_update,
    text_message,
)
from engine.simulator import samples as samples_module
from engine.simulator.ooxml import DOCX, PPTX, XLSX

VERSION = simulator.DEFAULT_GRAPH_VERSION


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(access_token="good-token") as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer good-token"
        yield session


def metadata(sim: CloudSimulator, http: requests.Session, media_id: str, **kw: Any) -> requests.Response:
    return http.get(f"{sim.base_url}/{VERSION}/{media_id}", timeout=5, **kw)


def fetch(sim: CloudSimulator, http: requests.Session, media_id: str) -> tuple[dict[str, Any], bytes]:
    """Metadata then download, as the engine does; both must succeed."""
    meta = metadata(sim, http, media_id)
    assert meta.status_code == 200, meta.text
    body = http.get(meta.json()["url"], timeout=5)
    assert body.status_code == 200, body.text
    return meta.json(), body.content


def assert_graph_error(response: requests.Response, status: int, code: int) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and isinstance(error["type"], str)


# the contract ---------------------------------------------------------------------------------------

def test_metadata_answers_metas_shape_and_the_url_serves_those_bytes(sim, http):
    sim.add_media("1001", "image/jpeg")
    meta, data = fetch(sim, http, "1001")
    assert set(meta) == {"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}
    assert meta["messaging_product"] == "whatsapp"
    assert meta["id"] == "1001" and meta["mime_type"] == "image/jpeg"
    assert meta["url"].startswith(sim.base_url + "/")
    assert meta["file_size"] == len(data) and isinstance(meta["file_size"], int)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert filetype.guess(data).mime == "image/jpeg"
    assert (sim.metadata_calls["1001"], sim.download_calls["1001"], sim.downloads_completed["1001"]) == (1, 1, 1)


def test_any_graph_version_is_accepted(sim, http):
    sim.add_media("1002", "application/pdf")
    assert http.get(f"{sim.base_url}/v19.0/1002", timeout=5).status_code == 200


def test_a_bad_token_is_refused_with_graph_code_190(sim, http):
    sim.add_media("1003", "image/png")
    assert_graph_error(metadata(sim, http, "1003", headers={"Authorization": "Bearer stolen"}), 401, 190)
    assert_graph_error(requests.get(f"{sim.base_url}/{VERSION}/1003", timeout=5), 401, 190)
    url = metadata(sim, http, "1003").json()["url"]
    assert_graph_error(requests.get(url, timeout=5), 401, 190)  # the URL alone is not enough
    assert sim.downloads_completed["1003"] == 0


def test_an_unknown_media_id_is_404_with_graph_code_100(sim, http):
    assert_graph_error(metadata(sim, http, "no-such-media"), 404, 100)


def test_a_removed_media_stops_being_served(sim, http):
    sim.add_media("1004", "image/webp")
    url = metadata(sim, http, "1004").json()["url"]
    sim.remove_media("1004")
    assert_graph_error(http.get(url, timeout=5), 404, 100)
    assert_graph_error(metadata(sim, http, "1004"), 404, 100)


def test_the_download_url_expires(sim, http):
    sim.add_media("1005", "image/jpeg", ttl=0.5)
    url = metadata(sim, http, "1005").json()["url"]
    assert http.get(url, timeout=5).status_code == 200
    time.sleep(0.55)
    assert http.get(url, timeout=5).status_code == 404
    assert http.get(metadata(sim, http, "1005").json()["url"], timeout=5).status_code == 200  # fresh URL


def test_the_default_url_lifetime_is_five_minutes(sim, http):
    sim.add_media("1006", "image/jpeg")
    before = time.time()
    url = metadata(sim, http, "1006").json()["url"]
    exp = float(url.split("exp=")[1].split("&")[0])
    assert before + 299 < exp < time.time() + 301


def test_a_tampered_url_is_refused(sim, http):
    sim.add_media("1007", "image/jpeg")
    url = metadata(sim, http, "1007").json()["url"]
    forged = url.replace("exp=", "exp=9")  # pushing the expiry out breaks the signature
    assert http.get(forged, timeout=5).status_code == 403


def test_large_media_are_padded_without_breaking_size_or_digest(sim, http):
    sim.add_media("1008", "video/mp4", size=3 * 1024 * 1024 + 17)
    meta, data = fetch(sim, http, "1008")
    assert meta["file_size"] == len(data) == 3 * 1024 * 1024 + 17
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert filetype.guess(data).mime == "video/mp4"


def test_counters_are_exact_under_concurrency(sim, http):
    sim.add_media("1009", "image/png")
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.get(
            f"{sim.base_url}/{VERSION}/1009", headers={"Authorization": "Bearer good-token"}, timeout=5
        ).status_code, range(40)))
    assert codes == [200] * 40 and sim.metadata_calls["1009"] == 40
    sim.reset_counters()
    assert sim.metadata_calls["1009"] == 0


def test_stop_frees_the_port_and_is_idempotent():
    sim = CloudSimulator()
    url = sim.start()
    sim.stop()
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/{VERSION}/1", timeout=2)


# faults ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [Fault(fail_first=2), Fault(burst_5xx=2)], ids=["fail_first", "burst_5xx"])
def test_a_5xx_burst_answers_500_then_recovers(sim, http, fault):
    sim.add_media("2001", "image/jpeg", fault=fault)
    statuses = [metadata(sim, http, "2001").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_a_5xx_answer_is_a_transient_graph_error(sim, http):
    sim.add_media("2002", "image/jpeg", fault=Fault.preset("5xx"))
    response = metadata(sim, http, "2002")
    assert_graph_error(response, 500, 2)
    assert response.json()["error"]["is_transient"] is True


@pytest.mark.parametrize(("status", "code"), [(401, 190), (404, 100), (429, 80007), (503, 2)])
def test_a_fixed_status_is_answered_every_time(sim, http, status, code):
    sim.add_media("2003", "image/jpeg", fault=Fault(status=status))
    for _ in range(2):
        assert_graph_error(metadata(sim, http, "2003"), status, code)
    assert sim.download_calls["2003"] == 0


def test_download_failures_hit_the_download_not_the_metadata(sim, http):
    sim.add_media("2004", "audio/ogg", fault=Fault(dl_fail_first=1))
    url = metadata(sim, http, "2004").json()["url"]
    assert http.get(url, timeout=5).status_code == 500
    assert http.get(url, timeout=5).status_code == 200
    assert (sim.download_calls["2004"], sim.downloads_completed["2004"]) == (2, 1)


def test_slow_trickles_the_body_at_the_given_rate(sim, http):
    sim.add_media("2005", "text/plain", data=b"x" * 4000, fault=Fault(slow_bps=10_000))
    url = metadata(sim, http, "2005").json()["url"]
    started = time.monotonic()
    assert len(http.get(url, timeout=5).content) == 4000
    assert 0.3 < time.monotonic() - started < 2.0


def test_truncate_promises_the_full_length_then_hangs_up_halfway(sim, http):
    sim.add_media("2006", "video/mp4", fault=Fault.preset("truncated"))
    meta = metadata(sim, http, "2006").json()
    url = urlsplit(meta["url"])
    conn = HTTPConnection(url.hostname, url.port, timeout=5)
    conn.request("GET", f"{url.path}?{url.query}", headers={"Authorization": "Bearer good-token"})
    response = conn.getresponse()
    assert int(response.headers["Content-Length"]) == meta["file_size"]
    with pytest.raises(IncompleteRead) as cut:
        response.read()
    conn.close()
    assert len(cut.value.partial) == meta["file_size"] // 2
    assert sim.downloads_completed["2006"] == 0


def test_requests_reports_a_truncated_body_as_an_error(sim, http):
    sim.add_media("2015", "image/jpeg", fault=Fault(truncate=True))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(metadata(sim, http, "2015").json()["url"], timeout=5)


def test_wrong_sha256_does_not_match_the_bytes(sim, http):
    sim.add_media("2007", "image/jpeg", fault=Fault.preset("wrong_sha256"))
    meta, data = fetch(sim, http, "2007")
    assert len(meta["sha256"]) == 64 and meta["sha256"] != hashlib.sha256(data).hexdigest()


def test_sha256_base64_is_the_right_digest_written_base64(sim, http):
    sim.add_media("2008", "image/jpeg", fault=Fault(sha256_base64=True))
    meta, data = fetch(sim, http, "2008")
    assert base64.b64decode(meta["sha256"]) == hashlib.sha256(data).digest()


def test_oversize_claims_200_mb(sim, http):
    sim.add_media("2009", "video/mp4", fault=Fault.preset("oversize"))
    meta, data = fetch(sim, http, "2009")
    assert meta["file_size"] == OVERSIZE_BYTES == 200 * 1024 * 1024 and len(data) < OVERSIZE_BYTES


@pytest.mark.parametrize(("declared", "served"), [("image/jpeg", "application/pdf"),
                                                  ("application/pdf", "image/jpeg")])
def test_lying_mime_serves_another_type_under_the_declared_one(sim, http, declared, served):
    sim.add_media("2010", declared, fault=Fault.preset("lying_mime"))
    meta, data = fetch(sim, http, "2010")
    assert meta["mime_type"] == declared
    assert filetype.guess(data).mime == served
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()  # only sniffing catches the lie


def test_timeout_holds_the_metadata_call_and_stop_cuts_it_short(http):
    sim = CloudSimulator(access_token="good-token")
    sim.start()
    sim.add_media("2011", "image/jpeg", fault=Fault.preset("timeout"))
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{sim.base_url}/{VERSION}/2011", timeout=0.3)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2.0


def test_a_short_timeout_answers_after_the_delay(sim, http):
    sim.add_media("2012", "image/jpeg", fault=Fault(timeout_s=0.3))
    started = time.monotonic()
    assert metadata(sim, http, "2012").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_expired_preset_hands_out_urls_that_are_already_dead(sim, http):
    sim.add_media("2013", "image/jpeg", fault=Fault.preset("expired"))
    url = metadata(sim, http, "2013").json()["url"]
    response = http.get(url, timeout=5)
    assert_graph_error(response, 404, 100)
    assert "expired" in response.json()["error"]["message"]


def test_set_fault_heals_a_media_so_a_retry_succeeds(sim, http):
    sim.add_media("2014", "image/jpeg", fault=Fault.preset("404"))
    assert metadata(sim, http, "2014").status_code == 404
    sim.set_fault("2014", None)
    fetch(sim, http, "2014")


def test_every_preset_exists_and_unknown_names_are_refused():
    expected = {"slow", "5xx", "401", "404", "truncated", "wrong_sha256", "oversize", "lying_mime",
                "timeout", "expired"}
    assert expected <= set(PRESETS)
    assert all(not Fault.preset(name).is_healthy for name in expected)
    with pytest.raises(ValueError, match="known presets"):
        Fault.preset("gremlins")
    with pytest.raises(ValueError):
        Fault(status=200)


# samples --------------------------------------------------------------------------------------------

SNIFFED = ["image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/mpeg", "audio/aac", "audio/mp4",
           "video/mp4", "application/pdf", "application/zip", DOCX, XLSX, PPTX]


@pytest.mark.parametrize("mime", SNIFFED)
def test_samples_sniff_as_their_declared_type_and_are_unique_per_media(mime):
    first, again, other = sample_bytes(mime, "111"), sample_bytes(mime, "111"), sample_bytes(mime, "222")
    assert filetype.guess(first).mime == mime
    assert first == again and first != other


def test_mime_parameters_and_aliases_are_understood():
    assert filetype.guess(sample_bytes("audio/ogg; codecs=opus", "1")).mime == "audio/ogg"
    assert filetype.guess(sample_bytes("image/jpg", "1")).mime == "image/jpeg"


def test_shipped_sample_files_are_small_real_files():
    for mime, name in samples_module.SAMPLE_FILES.items():
        data = (samples_module.samples_dir() / name).read_bytes()
        assert len(data) < 60 * 1024, name
        assert filetype.guess(data).mime == mime, name


@pytest.mark.parametrize("mime", [DOCX, XLSX, PPTX, "application/zip"])
def test_zip_based_documents_keep_the_id_in_the_comment_and_well_formed_parts(mime):
    archive = zipfile.ZipFile(io.BytesIO(sample_bytes(mime, "media-42")))
    assert archive.comment == b"media-42" and archive.testzip() is None
    for name in archive.namelist():
        if name.endswith((".xml", ".rels")):
            minidom.parseString(archive.read(name))


def test_text_and_unknown_types():
    assert b"9876" in sample_bytes("text/plain", "9876")
    opaque = sample_bytes("application/x-unheard-of", "9876")
    assert filetype.guess(opaque) is None and opaque.endswith(b"9876")


def test_samples_are_found_inside_a_pyinstaller_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    assert samples_module.samples_dir() == tmp_path / "resources" / "samples"


# payloads and the sender ----------------------------------------------------------------------------

def test_builders_make_metas_shapes_with_unique_wamids():
    first = text_message("Hello", wa_id="4911", name="Lena", timestamp=1700000000)
    second = text_message("Hello", wa_id="4911")
    value = first["entry"][0]["changes"][0]["value"]
    assert first["object"] == "whatsapp_business_account"
    assert first["entry"][0]["changes"][0]["field"] == "messages"
    assert value["contacts"] == [{"profile": {"name": "Lena"}, "wa_id": "4911"}]
    assert message_of(first) | {"id": None} == {"from": "4911", "id": None, "timestamp": "1700000000",
                                                "type": "text", "text": {"body": "Hello"}}
    assert message_of(first)["id"].startswith("wamid.") and message_of(first)["id"] != message_of(second)["id"]


def test_media_and_error_and_status_builders():
    doc = message_of(media_message("document", "77", "application/pdf", caption="Invoice",
                                   filename="inv.pdf", sha256="abc="))
    assert doc["type"] == "document"
    assert doc["document"] == {"mime_type": "application/pdf", "sha256": "abc=", "id": "77",
                               "caption": "Invoice", "filename": "inv.pdf"}
    error = message_of(error_message_131052())
    assert error["type"] == "unsupported" and error["errors"][0]["code"] == 131052
    assert "too big" in error["errors"][0]["error_data"]["details"]
    status = status_update("wamid.X", "delivered")["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["id"] == "wamid.X" and status["pricing"]["billable"] is True
    with pytest.raises(ValueError):
        media_message("hologram", "1", "image/jpeg")


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get("X-Hub-Signature-256", "")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_sender_signs_the_exact_raw_body_with_the_app_secret():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        payload = text_message("Olá 👋", wa_id="351900000000")
        with WebhookSender(f"http://127.0.0.1:{server.server_address[1]}/webhook", "s3cret") as sender:
            assert sender.send(payload) == 200
            assert sender.send(b'{"raw": true}') == 200
    finally:
        server.shutdown()
        server.server_close()
    (body, signature), (raw, raw_signature) = _Receiver.received[-2:]
    assert json.loads(body) == payload
    assert signature == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert raw == b'{"raw": true}'
    assert raw_signature == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()


# the demo -------------------------------------------------------------------------------------------

def test_demo_tells_a_time_ordered_story_with_its_media_registered(sim, http):
    now = time.time()
    bodies = list(demo_events(sim, now=now, seed=7))
    changes = [body["entry"][0]["changes"][0] for body in bodies]
    messages = [message_of(body) for body, change in zip(bodies, changes, strict=True)
                if "statuses" not in change["value"]]
    stamps = [int(m["timestamp"]) for m in messages]
    assert stamps == sorted(stamps) and now - 3 * 86400 < stamps[0] and now - 600 < stamps[-1] <= now
    assert len({m["id"] for m in messages}) == len(messages)
    assert len({m["from"] for m in messages}) >= 12
    echoes = [c["value"]["message_echoes"][0] for c in changes if c["field"] == "smb_message_echoes"]
    assert echoes and all(e["to"] != e["from"] for e in echoes)  # the owner's replies from the Business app
    read = {c["value"]["statuses"][0]["id"] for c in changes if "statuses" in c["value"]}
    assert read == {e["id"] for e in echoes}
    kinds = {m["type"] for m in messages}
    assert {"text", "image", "sticker", "audio", "video", "document", "location", "reaction",
            "unsupported"} <= kinds
    media = [m[m["type"]] for m in messages if "id" in m.get(m["type"], {})]
    faults = {sim.media(block["id"]).fault for block in media}
    assert {Fault.preset("404"), Fault.preset("oversize"), Fault.preset("lying_mime")} <= faults
    assert any(m.get("errors", [{}])[0].get("code") == 131052 for m in messages)
    healthy = next(block for block in media if sim.media(block["id"]).fault.is_healthy)
    meta, data = fetch(sim, http, healthy["id"])
    assert base64.b64decode(healthy["sha256"]) == hashlib.sha256(data).digest()
    assert list(demo_events(CloudSimulator(), now=now, seed=7)) == bodies  # seeded: reproducible


def test_public_api_is_pinned():
    assert {"CloudSimulator", "Fault", "WebhookSender", "sample_bytes", "text_message", "media_message",
            "status_update", "error_message_131052", "demo_events", "DemoScenario"} <= set(simulator.__all__)
    assert all(hasattr(simulator, name) for name in simulator.__all__)
