"""A chat handed over: webhooks through a real engine, the simulator's files, the page read back as a browser would."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import zipfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import boto3
import pytest
import requests
from mediadesk_testkit import MEDIADESK_BIN, build_config, listener_url, post_webhook, sql, wait_until

from engine.errors import MediaDeskError, StorageError
from engine.export import export_chat, media_link
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, Fault, echo_message, media_message, status_update, text_message

WA = "15550002222"
NAME = "Ana <Cakes>"
TEXTS = ('Two <b>cakes</b> & one "pie", please', "Is 5 > 3? Then 5 \u2615 to go", "<script>alert(1)</script>")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.src: list[str] = []
        self.href: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._skip += tag in ("script", "style")
        for k, v in attrs:
            if k == "src" and v:
                self.src.append(unquote(v))
            if k == "href" and v:
                self.href.append(unquote(v))

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def read_page(path: Path) -> tuple[Page, str]:
    raw = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(raw)
    return page, " ".join(" ".join(page.text).split())


@pytest.fixture
def chat(engine: MediaDeskEngine, sim: CloudSimulator) -> MediaDeskEngine:
    """One customer: three texts, a photo with a caption, a document, a voice note, a media that failed, and a
    reply the owner sent from the app that was read. Another customer writes too."""
    sim.add_media("X-PHOTO", "image/jpeg")
    sim.add_media("X-DOC", "application/pdf")
    sim.add_media("X-VOICE", "audio/ogg")
    sim.add_media("X-GONE", "image/jpeg", fault=Fault(status=404))
    t0 = int(time.time()) - 600
    url = listener_url(engine)
    bodies = [text_message(t, wa_id=WA, name=NAME, timestamp=t0 + i) for i, t in enumerate(TEXTS)]
    bodies += [media_message("image", "X-PHOTO", "image/jpeg", caption="the <i>big</i> one", wa_id=WA, name=NAME,
                             timestamp=t0 + 10),
               media_message("document", "X-DOC", "application/pdf", filename="Order list.pdf", wa_id=WA, name=NAME,
                             timestamp=t0 + 11),
               media_message("audio", "X-VOICE", "audio/ogg", voice=True, wa_id=WA, name=NAME, timestamp=t0 + 12),
               media_message("image", "X-GONE", "image/jpeg", wa_id=WA, name=NAME, timestamp=t0 + 13),
               echo_message("Ready at 9 & not later", wa_id=WA, wamid="wamid.OUT-1", timestamp=t0 + 20),
               text_message("someone else entirely", wa_id="15559990000", timestamp=t0 + 21)]
    for b in bodies:
        assert post_webhook(url, b).status_code == 200
    read = status_update("wamid.OUT-1", "read", recipient_id=WA, timestamp=t0 + 30)
    assert post_webhook(url, read).status_code == 200

    def settled() -> bool:
        rows = sql(engine.cfg.db_path, "select processing_status from chat_media")
        return len(rows) == 4 and all(r[0] in ("completed", "failed") for r in rows)

    wait_until(settled, timeout=30, what="the chat's media to settle")
    wait_until(lambda: sql(engine.cfg.db_path, "select status from chats where wamid = 'wamid.OUT-1'")[0][0] == "read",
               what="the read status")
    return engine


def test_the_export_is_one_page_with_every_media_file_beside_it(chat: MediaDeskEngine, sim: CloudSimulator,
                                                                 tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = export_chat(chat.db, chat.storage_for, wa_id=WA, out=tmp_path / "out",
                         progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert (result.messages, result.files, len(result.missing)) == (8, 3, 1)
    out = tmp_path / "out"
    pages = list(out.rglob("*.html"))
    assert pages == [result.page] and result.page.parent == out
    page, text = read_page(result.page)
    # every media file is there, byte for byte, and the page links it by its relative name
    for mid in ("X-PHOTO", "X-DOC", "X-VOICE"):
        want = hashlib.sha256(sim.media(mid).body).hexdigest()
        (rel,) = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.suffix != ".html"
                  and hashlib.sha256(p.read_bytes()).hexdigest() == want]
        assert rel in page.src + page.href, f"{mid} exported as {rel} but not linked"
    assert any(s.endswith(".jpg") for s in page.src), "the photo is shown inline"
    assert "audio" in page.tags and any(h.endswith("Order list.pdf") for h in page.href)
    # texts are text: escaped, never markup; nothing runs
    for t in (*TEXTS, "the <i>big</i> one", "Ready at 9 & not later"):
        assert " ".join(t.split()) in text
    raw = result.page.read_text(encoding="utf-8")
    assert "<b>" not in raw and "<i>big" not in raw and "script" not in page.tags
    assert "Ana &lt;Cakes&gt;" in raw
    assert "someone else entirely" not in text
    assert "not available" in text and "X-GONE" not in raw
    assert 'class="ticks read"' in raw and "\u2713\u2713" in text
    assert not [h for h in page.href + page.src if h.startswith(("http:", "https:", "/"))], "self-contained"


def test_zip_export_holds_the_same_and_leaves_nothing_else(chat: MediaDeskEngine, tmp_path: Path) -> None:
    result = export_chat(chat.db, chat.storage_for, wa_id=WA, out=tmp_path / "exports" / "chat", zip=True)
    assert result.archive == tmp_path / "exports" / "chat.zip" and os.listdir(tmp_path / "exports") == ["chat.zip"]
    with zipfile.ZipFile(result.archive) as zf:
        names = zf.namelist()
        assert str(result.page) in names and len(names) == 4
        page = Page()
        page.feed(zf.read(str(result.page)).decode())
        assert set(page.src + page.href) & set(names)


def test_an_export_never_overwrites_and_an_unknown_number_is_one_clear_error(chat: MediaDeskEngine,
                                                                             tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    with pytest.raises(MediaDeskError, match="not an empty folder"):
        export_chat(chat.db, chat.storage_for, wa_id=WA, out=tmp_path / "full")
    assert os.listdir(tmp_path / "full") == ["mine.txt"]
    with pytest.raises(MediaDeskError, match="no chat with 15550000000"):
        export_chat(chat.db, chat.storage_for, wa_id="15550000000", out=tmp_path / "new")


def test_mediadesk_export_command(chat: MediaDeskEngine, tmp_path: Path) -> None:
    run = subprocess.run([str(MEDIADESK_BIN), "export", "--contact", "+1 555-000-2222", "--out", str(tmp_path / "e"),
                          "--data-dir", str(chat.cfg.data_dir)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert "exported 8 messages and 3 media files" in run.stdout
    assert len(list((tmp_path / "e").rglob("*.html"))) == 1


def test_a_local_media_has_no_link_to_share(chat: MediaDeskEngine) -> None:
    with pytest.raises(StorageError, match="only media stored on S3"):
        media_link(chat.db, chat.storage_for, 1)


def test_s3_media_link_opens_until_it_expires_and_export_reads_from_s3(
        s3_endpoint: str, sim: CloudSimulator, data_dir: Path, tmp_path: Path, start_engine) -> None:  # type: ignore[no-untyped-def]
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="links")
    cfg = build_config(data_dir, graph_url=sim.base_url, storage="s3", s3_bucket="links",
                       s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    eng = start_engine(cfg)
    sim.add_media("S3-DOC", "application/pdf")
    post_webhook(listener_url(eng), media_message("document", "S3-DOC", "application/pdf", filename="quote.pdf",
                                                  wa_id=WA))
    wait_until(lambda: sql(cfg.db_path, "select processing_status from chat_media")[0][0] == "completed",
               timeout=30, what="the document to reach S3")
    url = media_link(eng.db, eng.storage_for, 1)
    assert "604800" in url  # 7 days by default
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == sim.media("S3-DOC").body
    assert "quote.pdf" in r.headers["Content-Disposition"]
    assert "3600" in media_link(eng.db, eng.storage_for, 1, expires=timedelta(hours=1))
    with pytest.raises(ValueError):
        media_link(eng.db, eng.storage_for, 1, expires=timedelta(days=8))
    result = export_chat(eng.db, eng.storage_for, wa_id=WA, out=tmp_path / "s3chat")
    (doc,) = (tmp_path / "s3chat" / "files").iterdir()
    assert result.files == 1 and doc.read_bytes() == sim.media("S3-DOC").body


def test_a_cancelled_export_leaves_nothing_behind(chat: MediaDeskEngine, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel_at_two(done: int, total: int) -> None:
        if done == 2:
            raise Cancelled

    for zipped in (False, True):
        with pytest.raises(Cancelled):
            export_chat(chat.db, chat.storage_for, wa_id=WA, out=tmp_path / "gone" / "chat", zip=zipped,
                        progress=cancel_at_two)
        assert os.listdir(tmp_path / "gone") == []
