"""Parsing Meta's bodies into records, and storing them: one transaction per batch, idempotent by wamid."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest
from mediadesk_testkit import fixture_payloads, sql

from engine.config import Config
from engine.db import Database
from engine.ingest import ParsedWebhook, WebhookStore, parse_webhook
from engine.ingest.parse import error_words
from engine.simulator import (
    error_message_131052,
    inbound,
    location_message,
    media_message,
    reaction_message,
    status_update,
    text_message,
)


def only(parsed: ParsedWebhook):  # type: ignore[no-untyped-def]
    assert len(parsed.messages) == 1
    return parsed.messages[0]


def test_every_fixture_parses_to_records() -> None:
    for f in fixture_payloads():
        parsed = parse_webhook(json.loads(f.read_text(encoding="utf-8")))
        assert not parsed.empty, f.name
        for m in parsed.messages:
            assert m.wamid and m.type and m.phone_number_id, f.name
            assert isinstance(m.created_at, datetime)


@pytest.mark.parametrize(("body", "kind", "text"), [
    (text_message("Hello there"), "text", "Hello there"),
    (location_message(1.5, 2.5, place="Bakery", address="Main St 1"), "location", "Bakery, Main St 1"),
    (reaction_message("wamid.X", "\U0001f44d"), "reaction", "\U0001f44d"),
    (reaction_message("wamid.X", ""), "reaction", ""),
    (inbound("button", {"text": "Yes", "payload": "YES"}), "button", "Yes"),
    (inbound("interactive", {"type": "button_reply", "button_reply": {"id": "1", "title": "Confirm"}}),
     "interactive", "Confirm"),
    (inbound("order", {"catalog_id": "1", "product_items": [{}, {}]}), "order", "Order of 2 item(s)"),
    (inbound("system", {"body": "User changed number"}), "system", "User changed number"),
    (media_message("image", "M1", "image/jpeg", caption="Cake"), "image", "Cake"),
])
def test_message_types_keep_their_type_and_text(body: dict, kind: str, text: str | None) -> None:
    m = only(parse_webhook(body))
    assert m.type == kind
    assert m.body == text


@pytest.mark.parametrize("kind", ["image", "video", "audio", "sticker", "document"])
def test_media_messages_carry_a_media_record(kind: str) -> None:
    m = only(parse_webhook(media_message(kind, "MID", "application/pdf" if kind == "document" else "x/y",
                                         sha256="c2hh", filename="a/b.pdf")))
    assert m.media is not None
    assert m.media.wa_media_id == "MID" and m.media.sha256 == "c2hh" and m.media.error is None
    assert m.media.name == ("b.pdf" if kind == "document" else None)


def test_unknown_type_is_unsupported_with_raw() -> None:
    body = inbound("teleport", {"to": "mars"})
    m = only(parse_webhook(body))
    assert m.type == "unsupported"
    assert m.meta["raw"]["teleport"] == {"to": "mars"}


UNSUPPORTED_PAYLOAD = {"code": 131000, "title": "Something went wrong", "message": "Something went wrong",
                       "error_data": {"details": "Unsupported webhook payload"}}


def test_errors_of_a_change_go_with_its_messages_in_words() -> None:
    body = inbound("interactive", {})
    body["entry"][0]["changes"][0]["value"]["errors"] = [UNSUPPORTED_PAYLOAD]
    m = only(parse_webhook(body))
    assert m.type == "interactive" and m.body is None and m.meta["errors"] == [UNSUPPORTED_PAYLOAD]
    assert error_words(m.meta) == ("WhatsApp could not pass this message on: Something went wrong: "
                                   "Unsupported webhook payload (error 131000)")
    # A message's own errors are its own: the change's do not replace them.
    own = {"code": 131051, "title": "Unsupported message type", "details": "Message type is not currently supported"}
    body = inbound("unknown", None, errors=[own])
    body["entry"][0]["changes"][0]["value"]["errors"] = [UNSUPPORTED_PAYLOAD]
    m = only(parse_webhook(body))
    assert m.type == "unsupported" and "131051" in error_words(m.meta) and "131000" not in error_words(m.meta)
    assert error_words(only(parse_webhook(inbound("text", {"body": "hi"}))).meta) is None


def test_a_change_with_only_errors_is_ignored_in_metas_words() -> None:
    body = inbound("text", {"body": "x"})
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"]
    value["errors"] = [UNSUPPORTED_PAYLOAD]
    parsed = parse_webhook(body)
    assert parsed.empty and parsed.errors and "Unsupported webhook payload (error 131000)" in parsed.ignored


def test_131052_is_a_failed_media_record() -> None:
    m = only(parse_webhook(error_message_131052()))
    assert m.media is not None and m.media.reason == "too_large" and "131052" in (m.media.error or "")


def test_status_records() -> None:
    parsed = parse_webhook(status_update("wamid.OUT", "delivered", timestamp=1_700_000_000))
    assert not parsed.messages and len(parsed.statuses) == 1
    st = parsed.statuses[0]
    assert (st.wamid, st.status) == ("wamid.OUT", "delivered")
    assert st.created_at == datetime(2023, 11, 14, 22, 13, 20)
    assert "pricing" in st.meta


@pytest.mark.parametrize("payload", [None, [], "x", 3, {"object": "page"}, {"object": "whatsapp_business_account"},
                                     {"object": "whatsapp_business_account", "entry": [None, 1, {"changes": [1]}]}])
def test_bodies_with_nothing_for_us_are_empty_with_a_reason(payload: object) -> None:
    parsed = parse_webhook(payload)
    assert parsed.empty and parsed.ignored


def test_garbage_fields_never_crash() -> None:
    body = text_message("x")
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    msg["timestamp"] = "not a time"
    msg["type"] = None
    del msg["id"]
    m = only(parse_webhook(body))
    assert m.type == "unsupported" and m.wamid.startswith("noid.")
    assert only(parse_webhook(body)).wamid == m.wamid  # stable: a redelivery is still recognised


# -- storing ----------------------------------------------------------------------------------------------------
def test_one_batch_is_one_transaction(database: Database, config: Config) -> None:
    """A record that cannot be stored rolls back every other record of the batch."""
    store = WebhookStore(database)
    good = parse_webhook(text_message("good one"))
    broken = parse_webhook(text_message("broken"))
    broken.messages[0] = replace(broken.messages[0], wa_id=None)  # type: ignore[arg-type]  # NOT NULL contact
    two_in_one = ParsedWebhook(messages=[*good.messages, *broken.messages])
    with pytest.raises(Exception):  # noqa: B017 - whatever the database raises, nothing may stick
        store.store([two_in_one])
    assert sql(config.db_path, "select count(*) from chats")[0][0] == 0
    assert sql(config.db_path, "select count(*) from contacts")[0][0] == 0
    assert sql(config.db_path, "select count(*) from workspaces")[0][0] == 0
    # the store recovers: its id caches were dropped with the rolled-back rows
    result = store.store([good])[0]
    assert result.messages == 1
    assert sql(config.db_path, "select count(*) from chats")[0][0] == 1


def test_store_is_idempotent_by_wamid(database: Database, config: Config) -> None:
    store = WebhookStore(database)
    body = parse_webhook(media_message("image", "M-1", "image/jpeg"))
    first = store.store([body])[0]
    again = store.store([body, body])
    assert first.messages == 1 and len(first.media_ids) == 1
    assert [r.duplicates for r in again] == [1, 1] and all(not r.media_ids for r in again)
    assert sql(config.db_path, "select count(*) from chat_media")[0][0] == 1


def test_contact_name_updates_when_the_customer_renames(database: Database, config: Config) -> None:
    store = WebhookStore(database)
    store.store([parse_webhook(text_message("a", name="Old Name"))])
    store.store([parse_webhook(text_message("b", name="New Name"))])
    assert [r[0] for r in sql(config.db_path, "select name from contacts")] == ["New Name"]


def test_who_meta_says_wrote_is_kept_with_the_message(database: Database, config: Config) -> None:
    """Business-scoped user ids and the @username travel with each message of that contact."""
    body = text_message("hi", wa_id="6281234", name="Ana")
    contact = body["entry"][0]["changes"][0]["value"]["contacts"][0]
    contact.update(user_id="ID.BSUID-1", parent_user_id="ID.PARENT-1", username="@ana_bakes")
    m = only(parse_webhook(body))
    assert (m.wa_id, m.contact_name) == ("6281234", "Ana")
    assert m.meta["sender"] == {"user_id": "ID.BSUID-1", "parent_user_id": "ID.PARENT-1", "username": "@ana_bakes"}
    WebhookStore(database).store([parse_webhook(body)])
    stored = json.loads(sql(config.db_path, "select metadata from chats")[0][0])
    assert stored["sender"]["username"] == "@ana_bakes"
    assert "sender" not in only(parse_webhook(text_message("plain"))).meta, "nothing invented when Meta sends none"


def test_a_statuss_contacts_name_its_recipient(database: Database, config: Config) -> None:
    body = status_update("wamid.FROM-PHONE", "delivered", recipient_id="6289999")
    body["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": {"name": "Budi"}, "wa_id": "6289999"}]
    st = parse_webhook(body).statuses[0]
    assert st.recipient_name == "Budi"
    WebhookStore(database).store([parse_webhook(body)])
    assert sql(config.db_path, "select wa_id, name from contacts") == [("6289999", "Budi")]
