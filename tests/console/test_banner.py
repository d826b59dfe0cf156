"""The maintenance banner against a real engine: a rollback from another process, a full disk, in plain words."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from console_helpers import media_status, send_media
from mediadesk_testkit import post_webhook
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from console.banner import MIGRATE, banner_words
from console.main_window import MainWindow
from engine import MaintenanceState, MediaDeskEngine
from engine.db.migrate import current_revision, head_revision
from engine.dbfaults import DISK_FULL, WriteRefused
from engine.simulator import CloudSimulator, media_message

DISK_WORDS = ("The disk is full: MediaDesk cannot store new messages. WhatsApp will send them again for up to "
              "7 days once you free space.")


def _rollback_elsewhere(window: MainWindow) -> None:
    """`mediadesk rollback` as another process on the same data folder would run it."""
    code = ("import sys; from pathlib import Path; from engine import Config; from engine.db.migrate import rollback; "
            "print(rollback(Config(data_dir=Path(sys.argv[1]))).after)")
    done = subprocess.run([sys.executable, "-c", code, str(window.cfg.data_dir)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def confirm(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def question(_parent: Any, title: str, _text: str, *_args: Any) -> QMessageBox.StandardButton:
        asked.append(title)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QMessageBox, "information", lambda *a: QMessageBox.StandardButton.Ok)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: QMessageBox.StandardButton.Ok)
    return asked


def test_a_rollback_elsewhere_shows_the_revisions_and_migrate_brings_everything_back(
        qtbot: Any, window: MainWindow, engine: MediaDeskEngine, sim: CloudSimulator, confirm: list[str]) -> None:
    banner = window.maintenance_banner
    notes: list[tuple[str, str]] = []
    banner.turned_bad.connect(lambda title, text: notes.append((title, text)))
    head = head_revision(window.cfg)
    send_media(engine, sim, "555", "Ines", "7600")
    qtbot.waitUntil(lambda: media_status(engine, "7600") == "completed", timeout=15_000)
    with qtbot.waitSignal(window.chats.loaded, timeout=10_000):
        window.chats.reload()
    assert window.select_chat(window.chats.summary(0).contact_id)
    qtbot.waitUntil(lambda: window.messages.rowCount() == 1, timeout=10_000)
    assert banner.isHidden()

    _rollback_elsewhere(window)
    found = current_revision(window.cfg)
    assert found != head
    qtbot.waitUntil(lambda: banner.isVisible(), timeout=10_000)
    text = banner.text.text()
    assert f"revision {found}" in text and f"needs revision {head}" in text
    assert banner.migrate_button.isVisible() and banner.migrate_button.text() == MIGRATE
    assert notes and notes[-1][1] == text  # the tray hears it too

    # While in maintenance a webhook is refused (Meta delivers it again) and reads say why, in words.
    registered = sim.add_media("7700", "image/jpeg")
    body = media_message("image", "7700", "image/jpeg", sha256=registered.sha256_base64, wa_id="555", name="Ines")
    assert post_webhook(engine.listener.address, body, secret=engine.cfg.app_secret).status_code == 503
    for model, load in ((window.chats, window.chats.reload),
                        (window.messages, lambda: window.messages.open_chat(window.messages.contact_id))):
        with qtbot.waitSignal(model.load_failed, timeout=10_000) as failed:
            load()
        said = failed.args[0]
        assert "in maintenance" in said and "sqlite3" not in said and "no such column" not in said
        assert window.status.currentMessage() == said

    with qtbot.waitSignal(banner.resumed, timeout=30_000):
        qtbot.mouseClick(banner.migrate_button, Qt.MouseButton.LeftButton)
    assert confirm == ["Migrate the database?"]
    assert banner.isHidden() and current_revision(window.cfg) == head
    assert not engine.workers_paused  # the guard resumed the workers it paused

    # Meta delivers the refused webhook again: it is taken, and its media downloads.
    assert post_webhook(engine.listener.address, body, secret=engine.cfg.app_secret).status_code == 200
    qtbot.waitUntil(lambda: media_status(engine, "7700") == "completed", timeout=15_000)
    qtbot.waitUntil(lambda: window.messages.rowCount() == 2, timeout=10_000)  # the window reloaded the chat


def test_a_refused_write_shows_the_disk_full_words_until_writes_work_again(
        qtbot: Any, window: MainWindow, engine: MediaDeskEngine) -> None:
    banner = window.maintenance_banner
    notes: list[str] = []
    banner.turned_bad.connect(lambda _title, text: notes.append(text))
    with qtbot.waitSignal(banner.shown, timeout=5000):
        engine.guard.on_refused(WriteRefused(DISK_FULL, "database or disk is full"))  # as the listener reports it
    assert banner.isVisible() and banner.text.text() == DISK_WORDS
    assert not banner.migrate_button.isVisible()
    assert notes == [DISK_WORDS]
    # The guard's probe write finds the database takes writes again (it was never really full here).
    with qtbot.waitSignal(banner.resumed, timeout=20_000):
        pass
    assert banner.isHidden() and engine.maintenance_state().ok


@pytest.mark.parametrize("state, words", [
    (MaintenanceState(True, None, "ok", "3", "3"), None),
    (MaintenanceState(False, "disk_full", "d", "3", "3"), DISK_WORDS),
    (MaintenanceState(False, "schema", "d", None, "0003"), "The database is at no schema at all"),
    (MaintenanceState(False, "database_unavailable", "d", "3", "3"), "The database is busy"),
    (MaintenanceState(False, "schema", "d", "9999", "0003", newer=True),
     "A newer version of MediaDesk upgraded this database (revision 9999)"),
])
def test_banner_words(state: MaintenanceState, words: str | None) -> None:
    said = banner_words(state)
    assert said == words if words is None else said.startswith(words)
