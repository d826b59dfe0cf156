"""Export chat… from the conversation header (off the GUI thread, progress bar, Cancel), and Copy link in the
bubble's context menu for media stored on S3 (a moto server on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import media_status, open_window, send_media
from PySide6.QtGui import QGuiApplication

from console.main_window import MainWindow
from engine import Config, ExportResult, MediaDeskEngine
from engine.simulator import CloudSimulator


def open_chat(qtbot: Any, window: MainWindow, engine: MediaDeskEngine, sim: CloudSimulator, n: int) -> None:
    ids = [f"EXP-{i}" for i in range(n)]
    for wa_media_id in ids:
        send_media(engine, sim, "4901", "Dora", wa_media_id)
    qtbot.waitUntil(lambda: all(media_status(engine, i) == "completed" for i in ids), timeout=20_000)
    qtbot.waitUntil(lambda: window.chats.rowCount() == 1 and window.chats.summary(0) is not None, timeout=5000)
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        window.select_chat(window.chats.summary(0).contact_id)


def test_export_chat_from_the_header(qtbot: Any, window: MainWindow, engine: MediaDeskEngine, sim: CloudSimulator,
                                     tmp_path: Path) -> None:
    open_chat(qtbot, window, engine, sim, 3)
    export = window.chat_export
    assert export.isVisibleTo(window.header) and export.button.text() == "Export chat…"
    out = tmp_path / "export"
    with qtbot.waitSignal(export.finished, timeout=20_000) as got:
        export.export_to(out)
        assert export.bar.isVisible() and export.cancel.isVisible() and not export.button.isEnabled()
    result = got.args[0]
    assert isinstance(result, ExportResult) and result.files == 3 and result.page.exists()
    assert "Dora" in result.page.read_text(encoding="utf-8")
    assert not export.bar.isVisible() and export.button.isEnabled() and export.bar.value() == 3


def test_cancel_stops_the_export_and_leaves_nothing(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                                    sim: CloudSimulator, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    open_chat(qtbot, window, engine, sim, 12)
    export = window.chat_export
    out = tmp_path / "cancelled"
    clicked = threading.Event()
    report = export.progress.report

    def after_the_click(done: int, total: int) -> None:  # the first file is written; a user clicks Cancel now
        clicked.wait(10)
        report(done, total)

    monkeypatch.setattr(export.progress, "report", after_the_click)
    with qtbot.waitSignal(export.finished, timeout=20_000) as got:
        export.export_to(out)
        export.cancel.click()  # the engine stops at its next file
        clicked.set()
    assert got.args == [None]
    assert not out.exists() or not any(out.iterdir())
    assert export.button.isEnabled() and not export.cancel.isVisible()


def test_a_local_media_has_no_link_menu(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                        sim: CloudSimulator) -> None:
    open_chat(qtbot, window, engine, sim, 1)
    view = window.conversation
    row = next(r for r in range(window.messages.rowCount()) if window.messages.message(r).media)
    assert view.link_menu(view.visualRect(window.messages.index(row)).center()) is None


@pytest.fixture
def s3_window(qtbot: Any, cfg: Config, s3_endpoint: str) -> Iterator[MainWindow]:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="links")
    eng = MediaDeskEngine(cfg.with_changes(storage="s3", s3_bucket="links", s3_region="us-east-1",
                                           s3_endpoint_url=s3_endpoint))
    eng.open()
    eng.start()
    try:
        with open_window(qtbot, eng) as win:
            yield win
    finally:
        eng.stop()


def test_copy_link_for_a_media_on_s3(qtbot: Any, s3_window: MainWindow, sim: CloudSimulator) -> None:
    window = s3_window
    open_chat(qtbot, window, window.engine, sim, 1)
    view = window.conversation
    row = next(r for r in range(window.messages.rowCount()) if window.messages.message(r).media)
    qtbot.waitUntil(lambda: window.messages.message(row).media.status == "completed", timeout=5000)
    menu = view.link_menu(view.visualRect(window.messages.index(row)).center())
    assert menu is not None and [a.text() for a in menu.actions()] == ["Copy link"]
    QGuiApplication.clipboard().clear()
    menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text().startswith("http://127.0.0.1"), timeout=5000)
    assert "X-Amz-Signature" in QGuiApplication.clipboard().text()
