"""The console's reads (engine.library): plain values from one short session each; the workspace row's errors
arrive translated."""

from __future__ import annotations

import dataclasses
import json

import pytest
from mediadesk_testkit import fixture_payloads

from engine import ConfigError, Library, MediaDeskEngine, WorkspaceInfo
from engine.db.models import Workspace
from engine.db.session import Database


def test_the_library_reads_chats_and_conversations_as_frozen_values(ingest_engine: MediaDeskEngine) -> None:
    ingest_engine.ingest([json.loads(p.read_text()) for p in fixture_payloads()])
    library = ingest_engine.library
    assert isinstance(library, Library)
    count, pages = library.chat_pages([0, 5], page_size=2)
    assert count == library.count_chats() > 0 and list(pages) == [0]  # page 5 is past the end
    chat = pages[0][0]
    assert library.chat_page(limit=2) == pages[0]
    assert chat.unread > 0
    rows = library.conversation(chat.contact_id, mark_read=True)
    assert rows and all(dataclasses.is_dataclass(r) for r in rows)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].body = "changed"  # type: ignore[misc]
    assert library.chat_page(limit=2)[0].unread == 0  # opened: its unread count starts again
    newest = rows[-1]
    assert library.conversation(chat.contact_id, after=(newest.created_at, newest.id)) == []
    media = {r.media.id: r.media for rows_ in [library.conversation(p.contact_id) for p in pages[0]]
             for r in rows_ if r.media}
    assert library.media(list(media)) == media


def test_no_library_before_the_engine_is_open(config) -> None:  # type: ignore[no-untyped-def]
    assert MediaDeskEngine(config).library is None


def test_the_workspace_row_round_trips_and_a_taken_number_is_a_config_error(database: Database) -> None:
    library = Library(database)
    assert library.workspace() is None
    library.save_workspace(WorkspaceInfo(None, "Rossi Bakery", "106540352242922", "1022"), graph_version="v22.0")
    first = library.workspace()
    assert first is not None and (first.name, first.phone_number_id, first.waba_id) == (
        "Rossi Bakery", "106540352242922", "1022")
    with database.session() as s:
        s.add(Workspace(name="Other shop", phone_number_id="999", settings={}))
    with pytest.raises(ConfigError, match="another workspace already uses phone number id 999"):
        library.save_workspace(dataclasses.replace(first, phone_number_id="999"), graph_version="v22.0")
    assert library.workspace() == first
