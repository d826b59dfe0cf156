"""The Media view's engine side: every media of every chat counted and paged with its filters in SQL, saved to a
folder, deleted without taking bytes another media shares (the message stays, its media marked deleted)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until
from PIL import Image

from engine import FailureReason, MediaFilter, MediaStatus
from engine.config import Config
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, Fault, media_message


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def library_engine(sim: CloudSimulator, sim_config: Config,
                   start_engine: Callable[..., MediaDeskEngine]) -> MediaDeskEngine:
    """Two contacts: Ana sends a photo twice (identical bytes, stored once) and a PDF; Bruno a photo that fails."""
    eng = start_engine(sim_config)
    same = jpeg((10, 200, 10))
    sim.add_media("SAME1", "image/jpeg", same)
    sim.add_media("SAME2", "image/jpeg", same)
    sim.add_media("DOC1", "application/pdf")
    sim.add_media("GONE1", "image/jpeg", fault=Fault(oversize=True))
    ts = int(datetime(2026, 11, 20, 12).timestamp())  # one a day at noon: any day window holds whole days
    for i, (kind, mid, mime, who, extra) in enumerate([
            ("image", "SAME1", "image/jpeg", ("15550001", "Ana"), {}),
            ("image", "SAME2", "image/jpeg", ("15550001", "Ana"), {}),
            ("document", "DOC1", "application/pdf", ("15550001", "Ana"), {"filename": "invoice-march.pdf"}),
            ("image", "GONE1", "image/jpeg", ("15550002", "Bruno"), {})]):
        body = media_message(kind, mid, mime, wa_id=who[0], name=who[1], timestamp=ts + i * 86400, **extra)
        assert post_webhook(listener_url(eng), body).status_code == 200
    wait_until(lambda: all(r[0] in ("completed", "failed")
                           for r in sql(eng.cfg.db_path, "select processing_status from chat_media"))
               and len(sql(eng.cfg.db_path, "select id from chat_media")) == 4, timeout=30)
    return eng


def ids(eng: MediaDeskEngine, *wa_media_ids: str) -> list[int]:
    return [int(sql(eng.cfg.db_path, "select id from chat_media where wa_media_id = ?", w)[0][0]) for w in wa_media_ids]


def test_every_media_is_counted_and_paged_newest_first_with_its_contact(library_engine: MediaDeskEngine) -> None:
    lib = library_engine.library
    assert lib.count_media() == 4
    n, pages = lib.media_pages([0, 1, 7], page_size=3)
    assert n == 4 and sorted(pages) == [0, 1]
    rows = pages[0] + pages[1]
    assert [r.media_id for r in rows] == sorted((r.media_id for r in rows), reverse=True)
    by = {r.media_id: r for r in rows}
    gone, doc = ids(library_engine, "GONE1", "DOC1")
    assert by[gone].contact_name == "Bruno" and by[gone].status == "failed" and by[gone].reason == "too_large"
    assert by[doc].name == "invoice-march.pdf" and by[doc].kind == "document" and by[doc].size
    # ids, not whole items: a thumbnail may land between the two reads
    assert [r.media_id for r in lib.media_page(limit=2, offset=2)] == [r.media_id for r in rows[2:]]
    # from the last media of the page before: the same page, by an index seek instead of an offset
    assert [r.media_id for r in lib.media_page(limit=2, below_id=rows[1].media_id)] == [r.media_id for r in rows[2:]]


@pytest.mark.parametrize(("f", "expected"), [
    (MediaFilter(kinds=("document",)), ["DOC1"]),
    (MediaFilter(kinds=("image", "video")), ["SAME1", "SAME2", "GONE1"]),
    (MediaFilter(status="failed"), ["GONE1"]),
    (MediaFilter(reason="too_large"), ["GONE1"]),
    (MediaFilter(contact="ana"), ["SAME1", "SAME2", "DOC1"]),
    (MediaFilter(contact="5550002"), ["GONE1"]),
    (MediaFilter(name="MARCH"), ["DOC1"]),
    (MediaFilter(since=datetime(2026, 11, 21), until=datetime(2026, 11, 23)), ["SAME2", "DOC1"]),
    (MediaFilter(status="completed", contact="ana", kinds=("image",)), ["SAME1", "SAME2"]),
])
def test_filters_are_answered_in_sql(library_engine: MediaDeskEngine, f: MediaFilter, expected: list[str]) -> None:
    lib = library_engine.library
    assert lib.count_media(f) == len(expected)
    assert {r.media_id for r in lib.media_page(f, limit=50)} == set(ids(library_engine, *expected))


def test_failure_reasons_in_use(library_engine: MediaDeskEngine) -> None:
    assert library_engine.library.failure_reasons() == ["too_large"]


def test_save_to_folder_copies_files_under_their_names_never_overwriting(library_engine: MediaDeskEngine,
                                                                        tmp_path: Path) -> None:
    a, b, doc, gone = ids(library_engine, "SAME1", "SAME2", "DOC1", "GONE1")
    seen: list[tuple[int, int]] = []
    out = tmp_path / "out"
    written, missing = library_engine.library.save_media([doc, a, gone], folder=out,
                                                         progress=lambda d, t: seen.append((d, t)))
    assert missing == [gone] and seen == [(1, 3), (2, 3), (3, 3)]
    assert [p.name for p in written][0] == "invoice-march.pdf"
    src = library_engine.cfg.data_dir / media_row(library_engine.cfg.db_path, doc)["path"]
    assert written[0].read_bytes() == src.read_bytes()
    again, _ = library_engine.library.save_media([doc], folder=out)
    assert again[0].name == "invoice-march (1).pdf"  # the first copy is kept


def test_delete_keeps_the_message_and_the_bytes_another_media_shares(library_engine: MediaDeskEngine) -> None:
    eng = library_engine
    a, b = ids(eng, "SAME1", "SAME2")
    pa = eng.cfg.data_dir / media_row(eng.cfg.db_path, a)["path"]
    pb = eng.cfg.data_dir / media_row(eng.cfg.db_path, b)["path"]
    wait_until(lambda: eng.library.media_items([a])[a].thumbnail, timeout=20, what="the thumbnail")
    thumb = eng.cfg.data_dir / eng.library.media_items([a])[a].thumbnail
    assert pa.stat().st_ino == pb.stat().st_ino  # identical bytes stored once
    assert eng.library.delete_media([a]) == [a]
    row = media_row(eng.cfg.db_path, a)
    assert row["processing_status"] == MediaStatus.FAILED and row["path"] is None
    item = eng.library.media_items([a])[a]
    assert item.reason == FailureReason.DELETED and item.thumbnail is None
    assert FailureReason.words_for(item.reason) == "You deleted this file in MediaDesk"
    assert not pa.exists() and not thumb.exists()
    assert pb.read_bytes() == jpeg((10, 200, 10))  # the other media keeps its file
    assert len(sql(eng.cfg.db_path, "select id from chats where media_id = ?", a)) == 1  # the message stays
    assert a not in eng._states().retry_all()  # "Retry all failed" leaves what the owner deleted alone
    assert all(c.failed_media == 0 for c in eng.library.chat_page())  # nor is it a failure in the chat list's badge
    assert eng.library.delete_media([b]) == [b]
    assert not pb.exists()
