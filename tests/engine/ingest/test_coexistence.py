"""A number that also runs the WhatsApp Business app: echoes of what the owner sent from the app, and the
synced chat history. Bodies follow Meta's `smb_message_echoes` and `history` webhook references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until

from engine.db.queries import chat_summaries
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, status_update

BODIES = Path(__file__).resolve().parents[2] / "fixtures" / "coexistence"
CUSTOMER = "16505551234"


def body(name: str) -> dict[str, Any]:
    return json.loads((BODIES / f"{name}.json").read_text())


def post(eng: MediaDeskEngine, payload: dict[str, Any]) -> None:
    assert post_webhook(listener_url(eng), payload).status_code == 200


def chat(eng: MediaDeskEngine, wamid: str) -> dict[str, Any]:
    rows = sql(eng.cfg.db_path, "select c.*, k.wa_id from chats c left join contacts k on k.id = c.contact_id "
                                "where c.wamid = ?", wamid)
    assert len(rows) == 1, f"{len(rows)} rows for {wamid}"
    row = dict(rows[0])
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


def completed(eng: MediaDeskEngine, media_id: int) -> dict[str, Any]:
    return wait_until(lambda: (r := media_row(eng.cfg.db_path, media_id))["processing_status"] == "completed" and r,
                      timeout=20, what=f"media {media_id} to complete")


@pytest.fixture
def app_media(sim: CloudSimulator) -> CloudSimulator:
    sim.add_media("ECHO-MEDIA-1", "image/jpeg")
    sim.add_media("HIST-MEDIA-3", "image/jpeg")
    return sim


def test_an_echo_is_an_outbound_message_in_the_customers_chat(engine: MediaDeskEngine) -> None:
    post(engine, body("echo-text"))
    row = chat(engine, "wamid.ECHO-TEXT-1")
    assert (row["direction"], row["type"], row["wa_id"]) == ("out", "text", CUSTOMER)
    assert row["body"].startswith("Here's the info you requested!")
    assert sql(engine.cfg.db_path, "select count(*) from contacts where wa_id = '15550783881'")[0][0] == 0
    post(engine, body("echo-text"))  # Meta delivers again: nothing changes
    assert sql(engine.cfg.db_path, "select count(*) from chats")[0][0] == 1


def test_media_the_owner_sent_from_the_app_is_downloaded_too(engine: MediaDeskEngine, app_media) -> None:
    post(engine, body("echo-image"))
    row = chat(engine, "wamid.ECHO-IMAGE-1")
    assert (row["direction"], row["type"], row["body"]) == ("out", "image", "Your order, packed")
    media = completed(engine, row["media_id"])
    assert (engine.cfg.data_dir / media["path"]).is_file()


def test_edits_and_deletions_made_in_the_app_change_their_message(engine: MediaDeskEngine, app_media) -> None:
    post(engine, body("echo-text"))
    post(engine, body("echo-image"))
    post(engine, body("echo-edit"))
    post(engine, body("echo-revoke"))
    edited = chat(engine, "wamid.ECHO-TEXT-1")
    assert edited["body"] == "Here's the info you asked for."
    assert "edited_at" in edited["metadata"]
    revoked = chat(engine, "wamid.ECHO-IMAGE-1")
    assert revoked["body"] is None and "revoked_at" in revoked["metadata"]
    # applied to their messages, not kept as messages of their own
    assert sql(engine.cfg.db_path, "select count(*) from chats where type in ('edit', 'revoke')")[0][0] == 0


def test_an_edit_of_an_unknown_message_is_kept_not_dropped(engine: MediaDeskEngine) -> None:
    post(engine, body("echo-edit"))
    row = chat(engine, "wamid.ECHO-EDIT-1")
    assert (row["type"], row["direction"], row["body"]) == ("edit", "out", "Here's the info you asked for.")


def test_a_status_seen_before_its_echo_keeps_its_history_when_the_echo_fills_it_in(engine: MediaDeskEngine) -> None:
    post(engine, status_update("wamid.ECHO-TEXT-1", "delivered", recipient_id=CUSTOMER,
                               phone_number_id="106540352242922", display_phone_number="15550783881"))
    assert chat(engine, "wamid.ECHO-TEXT-1")["type"] == "outbound"
    post(engine, body("echo-text"))
    row = chat(engine, "wamid.ECHO-TEXT-1")
    assert (row["type"], row["status"], row["direction"]) == ("text", "delivered", "out")
    assert [s["status"] for s in row["metadata"]["statuses"]] == ["delivered"]


def test_history_is_stored_on_both_sides_and_its_media_arrive_later(engine: MediaDeskEngine, app_media) -> None:
    post(engine, body("history-chunk"))
    first, second, third = (chat(engine, f"wamid.HIST-{n}") for n in (1, 2, 3))
    assert (first["direction"], first["body"]) == ("in", "Do you have the blue one in stock?")
    assert (second["direction"], second["status"]) == ("out", "read")
    assert (third["type"], third["media_id"]) == ("media_placeholder", None)
    assert {r["wa_id"] for r in (first, second, third)} == {CUSTOMER}
    assert first["status"] is None  # inbound rows carry no delivery status
    # the customer's message was read in the Business app: the chat is not unread here
    with engine.db.session() as s:
        (summary,) = chat_summaries(s)
    assert (summary.unread, summary.messages) == (0, 3)

    post(engine, body("history-media"))  # the media's id, sent separately
    third = chat(engine, "wamid.HIST-3")
    assert (third["type"], third["direction"]) == ("image", "out")
    completed(engine, third["media_id"])
    post(engine, body("history-media"))  # delivered again: still one media
    assert sql(engine.cfg.db_path, "select count(*) from chat_media")[0][0] == 1
    assert sql(engine.cfg.db_path, "select count(*) from chats")[0][0] == 3


def test_declined_history_is_acknowledged_and_stores_nothing(engine: MediaDeskEngine) -> None:
    post(engine, body("history-declined"))
    assert sql(engine.cfg.db_path, "select count(*) from chats")[0][0] == 0
