"""The webhook listener over real HTTP on loopback: what Meta (or an attacker) sees, and what gets stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from mediadesk_testkit import (
    APP_SECRET,
    VERIFY_TOKEN,
    encode,
    fixture_payloads,
    listener_url,
    post_webhook,
    sql,
)

from engine.runtime import MediaDeskEngine
from engine.simulator import envelope, media_message, message_of, new_wamid, status_update, text_message

MEDIA_TYPES = ("image", "video", "audio", "sticker", "document")


def messages_in(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for e in payload.get("entry", []) for c in e.get("changes", [])
            for m in c.get("value", {}).get("messages", []) or []]


def statuses_in(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for e in payload.get("entry", []) for c in e.get("changes", [])
            for s in c.get("value", {}).get("statuses", []) or []]


def counts(db_path: Path) -> tuple[int, int, int]:
    return tuple(sql(db_path, f"select count(*) from {t}")[0][0] for t in ("chats", "chat_media", "contacts"))


# -- verify handshake ------------------------------------------------------------------------------------------
def test_verify_handshake_answers_the_challenge(ingest_engine: MediaDeskEngine) -> None:
    r = requests.get(f"{listener_url(ingest_engine)}/webhook", timeout=5, params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert r.status_code == 200
    assert r.text == "1158201444"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.challenge": "1"},
])
def test_verify_handshake_refuses_a_wrong_token(ingest_engine: MediaDeskEngine, params: dict[str, str]) -> None:
    r = requests.get(f"{listener_url(ingest_engine)}/webhook", params=params, timeout=5)
    assert r.status_code == 403
    assert "1" not in r.text


# -- refused bodies store nothing ---------------------------------------------------------------------------------
def test_missing_signature_is_401_and_nothing_is_stored(ingest_engine: MediaDeskEngine) -> None:
    r = post_webhook(listener_url(ingest_engine), text_message("hello"), secret=None)
    assert r.status_code == 401
    assert counts(ingest_engine.cfg) == (0, 0, 0)


@pytest.mark.parametrize("signature", [
    "sha256=" + "0" * 64, "sha1=abc", "garbage", "sha256=", "sha256=" + "z" * 64,
])
def test_wrong_signature_is_refused_and_nothing_is_stored(ingest_engine: MediaDeskEngine, signature: str) -> None:
    r = post_webhook(listener_url(ingest_engine), text_message("hello"), secret=None,
                     headers={"X-Hub-Signature-256": signature})
    assert r.status_code in (401, 403)
    assert counts(ingest_engine.cfg) == (0, 0, 0)


def test_signature_with_another_secret_is_refused(ingest_engine: MediaDeskEngine) -> None:
    r = post_webhook(listener_url(ingest_engine), text_message("hello"), secret="someone-elses-secret")
    assert r.status_code in (401, 403)
    assert counts(ingest_engine.cfg) == (0, 0, 0)


def test_signature_covers_the_raw_bytes(ingest_engine: MediaDeskEngine) -> None:
    """Re-serialised JSON with the same meaning is a different body: the signature must not match."""
    payload = text_message("hello")
    signed = encode(payload)
    from engine.simulator import sign

    respaced = json.dumps(payload, indent=2).encode()
    r = requests.post(f"{listener_url(ingest_engine)}/webhook", data=respaced, timeout=5,
                      headers={"X-Hub-Signature-256": sign(signed, APP_SECRET)})
    assert r.status_code in (401, 403)
    assert counts(ingest_engine.cfg) == (0, 0, 0)


def test_body_over_one_mib_is_413(ingest_engine: MediaDeskEngine) -> None:
    big = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (1024 * 1024) + b'"}'
    r = post_webhook(listener_url(ingest_engine), big)
    assert r.status_code == 413
    assert counts(ingest_engine.cfg) == (0, 0, 0)
    # and the listener is still there for the next, valid body
    assert post_webhook(listener_url(ingest_engine), text_message("after the big one")).status_code == 200


def test_body_just_under_the_limit_is_accepted(ingest_engine: MediaDeskEngine) -> None:
    payload = text_message("padded")
    payload["pad"] = ""
    room = ingest_engine.cfg.max_body_bytes - len(encode(payload))
    payload["pad"] = "x" * room
    body = encode(payload)
    assert len(body) == ingest_engine.cfg.max_body_bytes
    assert post_webhook(listener_url(ingest_engine), body).status_code == 200
    assert counts(ingest_engine.cfg)[0] == 1


def test_chunked_body_over_the_limit_is_413(ingest_engine: MediaDeskEngine) -> None:
    """No Content-Length to trust: the listener counts as it reads."""
    from engine.simulator import sign

    body = b'{"object":"whatsapp_business_account","pad":"' + b"y" * (1024 * 1024 + 10) + b'"}'

    def pieces() -> Any:
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    try:
        r = requests.post(f"{listener_url(ingest_engine)}/webhook", data=pieces(), timeout=10,
                          headers={"X-Hub-Signature-256": sign(body, APP_SECRET)})
        assert r.status_code == 413
    except requests.ConnectionError:
        pass  # the listener may hang up mid-upload: refused all the same
    assert counts(ingest_engine.cfg) == (0, 0, 0)


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"object": "whatsapp_business_account"'])
def test_malformed_json_is_400(ingest_engine: MediaDeskEngine, body: bytes) -> None:
    assert post_webhook(listener_url(ingest_engine), body).status_code == 400
    assert counts(ingest_engine.cfg) == (0, 0, 0)


@pytest.mark.parametrize("payload", [
    {"object": "page", "entry": [{"id": "1", "messaging": []}]},
    {"hello": "world"},
    [1, 2, 3],
    "just a string",
    {"object": "whatsapp_business_account", "entry": "not a list"},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": None}]}]},
])
def test_json_that_is_not_a_whatsapp_webhook_is_200_and_stores_nothing(
        ingest_engine: MediaDeskEngine, payload: Any) -> None:
    assert post_webhook(listener_url(ingest_engine), encode(payload)).status_code == 200
    assert counts(ingest_engine.cfg) == (0, 0, 0)


def test_unknown_paths_and_methods(ingest_engine: MediaDeskEngine) -> None:
    base = listener_url(ingest_engine)
    assert requests.get(f"{base}/nope", timeout=5).status_code == 404
    assert requests.put(f"{base}/webhook", data=b"{}", timeout=5).status_code == 405


def test_healthz_answers_json(ingest_engine: MediaDeskEngine) -> None:
    r = requests.get(f"{listener_url(ingest_engine)}/healthz", timeout=5)
    assert r.status_code == 200
    info = r.json()
    assert info["listener"] == "ok"
    assert info["database"] == "ok"
    assert info["queue_length"] == 0
    assert "workers_alive" in info


# -- every real payload -----------------------------------------------------------------------------------------
@pytest.mark.both_backends
def test_every_fixture_payload_is_accepted_and_stored_as_its_types_say(ingest_engine: MediaDeskEngine) -> None:
    base, db = listener_url(ingest_engine), ingest_engine.cfg
    payloads = [(f.name, json.loads(f.read_text(encoding="utf-8"))) for f in fixture_payloads()]
    for name, payload in payloads:
        r = post_webhook(base, encode(payload))
        assert r.status_code == 200, f"{name}: {r.status_code} {r.text}"
    chats = {r["wamid"]: dict(r) for r in sql(db, "select * from chats")}
    media = {r["id"]: dict(r) for r in sql(db, "select * from chat_media")}
    sent_media = 0
    for name, payload in payloads:
        for m in messages_in(payload):
            row = chats.get(m["id"])
            assert row is not None, f"{name}: message {m['id']} not stored"
            assert row["direction"] == "in"
            sent = m["type"]
            if sent in ("unknown", "unsupported"):
                assert row["type"] == "unsupported", name
                assert json.loads(row["metadata"])["raw"] == m, f"{name}: raw message not kept"
            else:
                assert row["type"] == sent, name
            if sent == "text":
                assert row["body"] == m["text"]["body"], name
            if sent in MEDIA_TYPES:
                sent_media += 1
                mrow = media.get(row["media_id"])
                assert mrow is not None, f"{name}: no chat_media row linked"
                assert mrow["processing_status"] == "pending", name
                assert mrow["wa_media_id"] == str(m[sent]["id"]), name
                assert mrow["type"] == m[sent].get("mime_type"), name
                assert mrow["sha256"] == m[sent].get("sha256"), name  # kept exactly as given
                if sent == "document" and m[sent].get("filename"):
                    assert mrow["name"] and "/" not in mrow["name"] and "\\" not in mrow["name"]
            else:
                assert row["media_id"] is None, name
        for st in statuses_in(payload):
            row = chats.get(st["id"])
            assert row is not None, f"{name}: status for {st['id']} not kept"
            assert any(h["status"] == st["status"] for h in json.loads(row["metadata"])["statuses"]), name
    assert len(media) == sent_media
    # the captured document keeps its human name (sanitised, not mangled)
    pdf = [m for m in media.values() if m["type"] == "application/pdf"]
    assert [m["name"] for m in pdf] == ["1709124383910_ICS Company Profile AR.pdf"]


@pytest.mark.both_backends
def test_every_fixture_delivered_twice_changes_nothing(ingest_engine: MediaDeskEngine) -> None:
    base, db = listener_url(ingest_engine), ingest_engine.cfg
    bodies = [f.read_bytes() for f in fixture_payloads()]
    for body in bodies:
        assert post_webhook(base, body).status_code == 200
    before = [dict(r) for r in sql(db, "select * from chats order by id")]
    media_before = [dict(r) for r in sql(db, "select * from chat_media order by id")]
    contacts_before = counts(db)
    for body in bodies:
        assert post_webhook(base, body).status_code == 200
    assert [dict(r) for r in sql(db, "select * from chats order by id")] == before
    assert [dict(r) for r in sql(db, "select * from chat_media order by id")] == media_before
    assert counts(db) == contacts_before


@pytest.mark.both_backends
def test_several_entries_changes_and_messages_in_one_body_are_all_stored(ingest_engine: MediaDeskEngine) -> None:
    wamids: list[str] = []

    def change(n: int, pnid: str) -> dict[str, Any]:
        msgs = []
        for _ in range(n):
            w = new_wamid()
            wamids.append(w)
            msgs.append(message_of(text_message(f"m{len(wamids)}", wamid=w)))
        return envelope({"contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551234567"}], "messages": msgs},
                        phone_number_id=pnid)["entry"][0]["changes"][0]

    body = {"object": "whatsapp_business_account", "entry": [
        {"id": "WABA-A", "changes": [change(2, "PN-A"), change(3, "PN-A")]},
        {"id": "WABA-B", "changes": [change(1, "PN-B"), change(2, "PN-B")]},
    ]}
    r = post_webhook(listener_url(ingest_engine), body)
    assert r.status_code == 200
    assert r.json()["stored"] == 8
    stored = {row["wamid"] for row in sql(ingest_engine.cfg, "select wamid from chats")}
    assert stored == set(wamids)
    pnids = {row[0] for row in sql(ingest_engine.cfg, "select phone_number_id from workspaces")}
    assert pnids == {"PN-A", "PN-B"}


def test_a_new_phone_number_id_gets_its_own_workspace(ingest_engine: MediaDeskEngine) -> None:
    base, db = listener_url(ingest_engine), ingest_engine.cfg
    post_webhook(base, text_message("first", phone_number_id="PN-1", display_phone_number="15550001111"))
    post_webhook(base, text_message("second", phone_number_id="PN-2", display_phone_number="15550002222"))
    post_webhook(base, text_message("third", phone_number_id="PN-1", display_phone_number="15550001111"))
    ws = {r["phone_number_id"]: (r["id"], r["name"]) for r in sql(db, "select * from workspaces")}
    assert set(ws) == {"PN-1", "PN-2"}
    assert "15550001111" in ws["PN-1"][1] and "15550002222" in ws["PN-2"][1]
    per_ws = dict(sql(db, "select w.phone_number_id, count(*) from chats c join workspaces w "
                          "on w.id = c.workspace_id group by w.phone_number_id"))
    assert per_ws == {"PN-1": 2, "PN-2": 1}
    # the same customer writing to two numbers is a contact in each workspace
    assert sql(db, "select count(*) from contacts")[0][0] == 2


@pytest.mark.both_backends
def test_statuses_for_unknown_messages_are_kept_and_later_ones_win(ingest_engine: MediaDeskEngine) -> None:
    base, db = listener_url(ingest_engine), ingest_engine.cfg
    wamid = new_wamid()
    for status, ts in (("sent", 100), ("read", 300), ("delivered", 200)):
        assert post_webhook(base, status_update(wamid, status, timestamp=ts)).status_code == 200
    row = sql(db, "select * from chats where wamid = ?", wamid)[0]
    assert row["direction"] == "out"
    assert row["status"] == "read"  # a late "delivered" does not undo "read"
    history = json.loads(row["metadata"])["statuses"]
    assert [h["status"] for h in history] == ["sent", "read", "delivered"]
    # the same status delivered again adds nothing
    post_webhook(base, status_update(wamid, "read", timestamp=300))
    assert len(json.loads(sql(db, "select metadata from chats where wamid = ?", wamid)[0][0])["statuses"]) == 3
    assert sql(db, "select count(*) from chats")[0][0] == 1


def test_status_for_a_known_inbound_message_updates_it(ingest_engine: MediaDeskEngine) -> None:
    base, db = listener_url(ingest_engine), ingest_engine.cfg
    wamid = new_wamid()
    post_webhook(base, text_message("hi", wamid=wamid))
    post_webhook(base, status_update(wamid, "failed", errors=[{"code": 131026, "title": "Message undeliverable"}]))
    row = sql(db, "select * from chats where wamid = ?", wamid)[0]
    assert row["type"] == "text" and row["body"] == "hi"
    assert row["status"] == "failed"
    assert json.loads(row["metadata"])["statuses"][0]["errors"][0]["code"] == 131026


def test_unknown_message_type_is_unsupported_with_the_raw_message(ingest_engine: MediaDeskEngine) -> None:
    from engine.simulator import inbound

    body = inbound("hologram", {"depth": 3, "id": "H1"})
    assert post_webhook(listener_url(ingest_engine), body).status_code == 200
    row = sql(ingest_engine.cfg, "select * from chats")[0]
    assert row["type"] == "unsupported"
    assert json.loads(row["metadata"])["raw"] == message_of(body)
    assert row["media_id"] is None


@pytest.mark.both_backends
def test_media_message_creates_a_pending_row_linked_in_the_same_body(ingest_engine: MediaDeskEngine) -> None:
    body = media_message("document", "MID-1", "application/pdf", filename="../../etc/passwd",
                         sha256="AbCd+/==")
    assert post_webhook(listener_url(ingest_engine), body).status_code == 200
    row = sql(ingest_engine.cfg, "select c.type, m.* from chats c join chat_media m on m.id = c.media_id")[0]
    assert row["processing_status"] == "pending"
    assert row["wa_media_id"] == "MID-1"
    assert row["sha256"] == "AbCd+/=="
    assert row["name"] == "passwd"
