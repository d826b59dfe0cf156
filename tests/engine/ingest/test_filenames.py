"""Hostile document filenames: sanitised on ingest, and the stored file never leaves uploads/."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

import pytest
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until

from engine.ingest import sanitize_filename
from engine.ingest.filenames import MAX_NAME
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message

RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}

HOSTILE = [
    "../../etc/passwd",
    "../" * 24 + "tmp/mediadesk-escape.pdf",
    "..\\..\\Windows\\System32\\evil.dll",
    "/etc/shadow",
    "C:\\Users\\owner\\Desktop\\invoice.pdf",
    "report\x00.pdf.exe",
    "line\nbreak\r\tand\x1bescape.pdf",
    "\x7fdelete.pdf",
    "CON",
    "con.txt",
    "NUL.tar.gz",
    "lpt1.pdf",
    "Com9",
    "aux.",
    "..",
    "...",
    ".",
    "",
    "   ",
    "....pdf",
    "a..b..c.pdf",
    ".hidden",
    "x" * 500 + ".pdf",
    "文" * 500 + ".pdf",
    "\U00020000" * 300 + ".docx",  # 4-byte UTF-8 letters (CJK Extension B)
    "e\u0301te\u0301.pdf",  # decomposed accents
    'a<b>c:d"e|f?g*h.pdf',
    "trailing dots and spaces. . .",
    "file/",
    "dir\\",
]


def assert_safe(name: str) -> None:
    assert name, "empty name"
    assert "/" not in name and "\\" not in name, name
    assert ".." not in name, name
    assert not any(unicodedata.category(ch) == "Cc" for ch in name), repr(name)
    assert name not in (".", "..")
    first = name.split(".")[0].strip().upper()
    assert first not in RESERVED, f"reserved device name survived: {name!r}"
    assert len(name) <= MAX_NAME, len(name)
    assert not name.endswith((" ", ".")), repr(name)


@pytest.mark.parametrize("raw", HOSTILE, ids=lambda s: repr(s)[:40])
def test_sanitised_name_is_safe(raw: str) -> None:
    assert_safe(sanitize_filename(raw))


@pytest.mark.parametrize(("raw", "want"), [
    ("Invoice 2024-03.pdf", "Invoice 2024-03.pdf"),
    ("1709124383910_ICS Company Profile AR.pdf", "1709124383910_ICS Company Profile AR.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\owner\\invoice.pdf", "invoice.pdf"),
    ("عرض سعر.pdf", "عرض سعر.pdf"),
])
def test_sanitised_name_keeps_the_senders_words(raw: str, want: str) -> None:
    assert sanitize_filename(raw) == want


def test_long_name_keeps_its_extension() -> None:
    name = sanitize_filename("x" * 500 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name) == MAX_NAME


def test_no_name_falls_back() -> None:
    assert sanitize_filename(None, fallback="document") == "document"
    assert sanitize_filename("", fallback="document") == "document"
    assert sanitize_filename("..", fallback="document") == "document"


def test_hostile_filenames_end_to_end_stay_inside_the_data_dir(engine: MediaDeskEngine, sim: CloudSimulator,
                                                               tmp_path: Path) -> None:
    """Through HTTP, the real workers and the simulator: every file lands under data_dir/uploads."""
    escape_target = tmp_path / "escaped.pdf"
    names = [*HOSTILE, "../" * 24 + str(escape_target).lstrip("/")]
    wa_ids = []
    for i, raw in enumerate(names):
        mid = f"HOSTILE-{i}"
        sim.add_media(mid, "application/pdf")
        wa_ids.append(mid)
        body = media_message("document", mid, "application/pdf", filename=raw)
        assert post_webhook(listener_url(engine), body).status_code == 200
    db = engine.cfg.db_path

    def settled() -> bool:
        rows = sql(db, "select processing_status from chat_media")
        return len(rows) == len(names) and all(r[0] in ("completed", "failed") for r in rows)

    wait_until(settled, timeout=60, what="every hostile document to settle")
    data_root = os.path.realpath(engine.cfg.data_dir)
    uploads_root = os.path.join(data_root, "uploads") + os.sep
    for row in sql(db, "select id from chat_media order by id"):
        m = media_row(db, row[0])
        assert m["processing_status"] == "completed", (m["name"], m["metadata"])
        if m["name"] is not None:  # None only when the sender gave no name at all
            assert_safe(m["name"])
        stored = os.path.realpath(os.path.join(data_root, m["path"]))
        assert stored.startswith(uploads_root), stored
        assert len(os.path.basename(stored).encode()) <= 255
        data = Path(stored).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sim.media(m["wa_media_id"]).sha256
    assert not escape_target.exists()
    every_file = [os.path.realpath(p) for p in Path(data_root).rglob("*") if p.is_file()]
    assert all(p.startswith(data_root + os.sep) for p in every_file)
