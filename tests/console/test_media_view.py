"""View > Media: every media of every chat through a virtual model (qtmodeltester), filters answered by the
engine, each bulk action (Retry, Save to folder with progress, Open, Show in chat, Delete), and thumbnails
shown from the engine's stored ones, never by decoding the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from console_helpers import media_status, send_media
from PySide6.QtCore import QItemSelectionModel, QRect
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QProgressBar

from console.main_window import MainWindow
from console.media_model import COLUMNS, STATUS, MediaListModel
from console.media_view import MediaView
from console.progress import Cancelled, TaskProgress
from engine import MediaDeskEngine, MediaFilter
from engine.simulator import CloudSimulator, Fault


@pytest.fixture
def media(qtbot: Any, engine: MediaDeskEngine, sim: CloudSimulator) -> dict[str, str]:
    """Ana: two photos and a PDF; Ben: a photo WhatsApp no longer has (failed)."""
    send_media(engine, sim, "3901", "Ana", "MV-IMG1")
    send_media(engine, sim, "3901", "Ana", "MV-IMG2")
    send_media(engine, sim, "3901", "Ana", "MV-DOC1", kind="document", mime="application/pdf")
    send_media(engine, sim, "3902", "Ben", "MV-GONE", fault=Fault(status=404))
    names = ("MV-IMG1", "MV-IMG2", "MV-DOC1", "MV-GONE")
    qtbot.waitUntil(lambda: all(media_status(engine, n) in ("completed", "failed") for n in names), timeout=20_000)
    assert media_status(engine, "MV-GONE") == "failed"
    return {n: media_status(engine, n) for n in names}


def open_media_view(qtbot: Any, window: MainWindow) -> MediaView:
    window.show_view("Media")
    view = window._views["Media"]
    assert isinstance(view, MediaView)
    qtbot.waitUntil(lambda: not view.model.loading and view.model.rowCount() > 0, timeout=10_000)
    qtbot.waitUntil(lambda: view.model.item(0) is not None, timeout=10_000)
    return view


def select(view: MediaView, *rows: int) -> None:
    sel = view.table.selectionModel()
    sel.clearSelection()
    for r in rows:
        sel.select(view.model.index(r, 0), QItemSelectionModel.SelectionFlag.Select
                   | QItemSelectionModel.SelectionFlag.Rows)


def row_of(view: MediaView, kind: str) -> int:
    for r in range(view.model.rowCount()):
        item = view.model.item(r)
        if item is not None and item.kind == kind:
            return r
    raise AssertionError(kind)


def test_the_model_passes_qtmodeltester_and_pages_every_media(qtbot: Any, qtmodeltester: Any,
                                                              engine: MediaDeskEngine, media: dict[str, str]) -> None:
    model = MediaListModel(engine)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    assert model.rowCount() == 4 and model.columnCount() == len(COLUMNS)
    model.data(model.index(0, 0))  # a placeholder asks for its page
    qtbot.waitUntil(lambda: model.item(3) is not None, timeout=5000)
    qtmodeltester.check(model)
    statuses = {model.index(r, STATUS).data() for r in range(4)}
    assert statuses == {"Saved", "Failed"}
    failed = next(r for r in range(4) if model.item(r).status == "failed")
    assert model.index(failed, 4).data()  # the reason, in words
    assert model.index(failed, 5).data() == "Ben"


def test_filters_go_to_the_engine(qtbot: Any, window: MainWindow, media: dict[str, str]) -> None:
    view = open_media_view(qtbot, window)
    assert view.model.rowCount() == 4
    view.kind_box.setCurrentIndex(view.kind_box.findText("Documents"))
    qtbot.waitUntil(lambda: view.model.media_filter.kinds == ("document",) and not view.model.loading, timeout=5000)
    assert view.model.rowCount() == 1
    view.kind_box.setCurrentIndex(0)
    view.status_box.setCurrentIndex(view.status_box.findData("failed"))
    qtbot.waitUntil(lambda: view.model.media_filter.status == "failed" and not view.model.loading, timeout=5000)
    assert view.model.rowCount() == 1
    view.status_box.setCurrentIndex(0)
    view.contact_box.setText("ana")
    qtbot.waitUntil(lambda: view.model.media_filter.contact == "ana" and not view.model.loading, timeout=5000)
    assert view.model.rowCount() == 3
    view.contact_box.clear()
    view.dates_box.setChecked(True)  # the last 30 days to today: everything was sent just now
    qtbot.waitUntil(lambda: view.model.media_filter.since is not None and not view.model.loading, timeout=5000)
    assert view.model.rowCount() == 4
    view.until_box.setDate(view.until_box.date().addDays(-2))
    qtbot.waitUntil(lambda: not view.model.loading and view.model.rowCount() == 0, timeout=5000)
    assert view.current_filter() == view.model.media_filter


def test_retry_a_selection(qtbot: Any, window: MainWindow, engine: MediaDeskEngine, sim: CloudSimulator,
                           media: dict[str, str]) -> None:
    view = open_media_view(qtbot, window)
    qtbot.waitUntil(lambda: all(view.model.item(r) for r in range(4)), timeout=5000)
    failed = next(r for r in range(4) if view.model.item(r).status == "failed")
    sim.set_fault("MV-GONE", None)  # WhatsApp has it again
    select(view, failed)
    assert view.retry_button.isEnabled()
    with qtbot.waitSignal(view.retried, timeout=5000) as got:
        view.retry_button.click()
    assert got.args == [1]
    qtbot.waitUntil(lambda: media_status(engine, "MV-GONE") == "completed", timeout=20_000)


def test_save_to_folder_runs_off_the_gui_thread_with_progress(qtbot: Any, window: MainWindow, tmp_path: Path,
                                                              media: dict[str, str]) -> None:
    view = open_media_view(qtbot, window)
    qtbot.waitUntil(lambda: all(view.model.item(r) for r in range(4)), timeout=5000)
    select(view, 0, 1, 2, 3)
    out = tmp_path / "saved"
    with qtbot.waitSignal(view.saved, timeout=10_000) as got:
        view.save_to(out)
        assert view.progress_bar.isVisible() and view.cancel_button.isVisible()
    written, missing = got.args
    assert len(written) == 3 and len(missing) == 0  # the failed one is not offered: it has no file
    assert sorted(p.parent for p in written) == [out] * 3 and all(p.stat().st_size > 0 for p in written)
    assert not view.progress_bar.isVisible() and view.progress_bar.value() == 3


def test_progress_cancel_stops_the_task_at_its_next_report(qtbot: Any) -> None:
    bar = QProgressBar()
    progress = TaskProgress(bar)
    progress.start(10)
    progress.report(1, 10)
    assert progress.snapshot() == (1, 10)
    progress.cancel()
    with pytest.raises(Cancelled):
        progress.report(2, 10)
    progress.finish()
    assert bar.value() == 2 and not bar.isVisible()


def test_open_and_show_in_chat(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch,
                               media: dict[str, str]) -> None:
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    view = open_media_view(qtbot, window)
    qtbot.waitUntil(lambda: all(view.model.item(r) for r in range(4)), timeout=5000)
    doc = row_of(view, "document")
    select(view, doc)
    view.open_button.click()
    assert len(opened) == 1 and Path(opened[0]).read_bytes()[:4] == b"%PDF"
    item = view.model.item(doc)
    with qtbot.waitSignal(window.show_in_chat.found,
                          timeout=10_000) as got:
        view.chat_button.click()
    assert window.stack.currentWidget() is window._views["Chats"]
    assert window.messages.contact_id == item.contact_id
    assert window.messages.message(got.args[0]).id == item.message_id
    assert window.header.name.text() == "Ana"


def test_delete_is_confirmed_and_keeps_the_message(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                                   monkeypatch: pytest.MonkeyPatch, media: dict[str, str]) -> None:
    view = open_media_view(qtbot, window)
    qtbot.waitUntil(lambda: all(view.model.item(r) for r in range(4)), timeout=5000)
    doc = row_of(view, "document")
    item = view.model.item(doc)
    path = engine.cfg.data_dir / item.path
    select(view, doc)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    view.delete_button.click()
    assert path.exists()  # not confirmed: nothing happens
    asked: list[str] = []

    def yes(_parent: Any, _title: str, text: str, *_a: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    with qtbot.waitSignal(view.deleted, timeout=5000) as got:
        view.delete_button.click()
    assert got.args == [[item.media_id]] and "messages stay" in asked[0]
    assert not path.exists()
    qtbot.waitUntil(lambda: not view.model.loading, timeout=5000)
    after = engine.library.media_items([item.media_id])[item.media_id]
    assert after.status == "failed" and after.reason == "deleted" and after.message_id == item.message_id
    assert engine.library.count_media(MediaFilter(reason="deleted")) == 1


def test_bubbles_and_the_media_view_show_the_stored_thumbnail_not_the_original(
        qtbot: Any, window: MainWindow, engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    send_media(engine, sim, "3903", "Cleo", "MV-THUMB")
    qtbot.waitUntil(lambda: media_status(engine, "MV-THUMB") == "completed", timeout=20_000)
    item = next(iter(engine.library.media_page(MediaFilter(contact="Cleo"), limit=5)))
    qtbot.waitUntil(lambda: bool(engine.library.media_items([item.media_id])[item.media_id].thumbnail), timeout=20_000)
    reads: list[str] = []
    original = window.thumbnails._read_bytes

    def recording(path: str, location: str) -> bytes:
        reads.append(path)
        return original(path, location)

    window.thumbnails._read_bytes = recording
    qtbot.waitUntil(lambda: window.chats.row_of(item.contact_id) >= 0, timeout=5000)
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        window.select_chat(item.contact_id)
    qtbot.waitUntil(lambda: window.thumbnails.get(item.media_id, None) is not None, timeout=5000)
    assert reads and all(p.startswith("thumbnails/") for p in reads), reads
    view = open_media_view(qtbot, window)
    view.thumbnails._read_bytes = recording
    qtbot.waitUntil(lambda: view.thumbnails.get(item.media_id, None) is not None, timeout=5000)
    assert all(p.startswith("thumbnails/") for p in reads), reads


def test_pages_arrive_after_their_placeholders_and_follow_on_from_the_page_before(
        qtbot: Any, monkeypatch: pytest.MonkeyPatch, engine: MediaDeskEngine, media: dict[str, str]) -> None:
    monkeypatch.setattr("console.media_model.PAGE", 2)
    reads: list[dict[str, Any]] = []
    library = type(engine.library)
    original = library.media_page

    def recording(self: Any, f: MediaFilter = MediaFilter(), **kw: Any) -> Any:  # noqa: B008
        reads.append(kw)
        return original(self, f, **kw)

    monkeypatch.setattr(library, "media_page", recording)
    model = MediaListModel(engine)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    assert model.rowCount() == 4 and model.item(1) is not None and model.item(2) is None
    assert model.index(2, 0).data() is None  # a placeholder until its page is read, off the GUI thread
    qtbot.waitUntil(lambda: model.item(3) is not None, timeout=5000)
    # Page 1 starts where page 0 ended: an index seek, not an OFFSET walk over the rows before it.
    assert reads == [dict(limit=2, offset=2, below_id=model.item(1).media_id)]
    every = [r.media_id for r in original(engine.library, limit=10)]
    assert [model.item(r).media_id for r in range(4)] == every
    assert model.index(3, 0).data()  # filled in


def test_a_reset_lets_go_of_the_old_pages_off_the_gui_thread(qtbot: Any, engine: MediaDeskEngine,
                                                            media: dict[str, str]) -> None:
    model = MediaListModel(engine)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    old = model._pages
    assert old
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_filter(MediaFilter(status="failed"))
    assert model.rowCount() == 1 and model._pages is not old
    qtbot.waitUntil(lambda: not old, timeout=5000)  # emptied by a pool task, a few pages at a time


def test_the_delegate_paints_by_the_headers_widths_after_a_resize(qtbot: Any, window: MainWindow,
                                                                 media: dict[str, str]) -> None:
    view = open_media_view(qtbot, window)
    delegate = view.table.itemDelegate()
    row = QRect(0, 0, 1200, 48)
    before = dict((c, w) for c, _x, w in delegate._columns(row))
    view.header.resizeSection(STATUS, before[STATUS] + 40)
    after = dict((c, w) for c, _x, w in delegate._columns(row))
    assert after[STATUS] == before[STATUS] + 40
    positions = [x for _c, x, _w in delegate._columns(row)]
    assert positions == sorted(positions)
