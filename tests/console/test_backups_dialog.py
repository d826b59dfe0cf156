"""Database > Backups…: the list of real backups, Restore and Delete confirmed and done, PostgreSQL said plainly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from console_helpers import say
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QMessageBox, QWidget

from console.backups_dialog import BackupsDialog, BackupsModel
from console.main_window import MainWindow
from console.maintenance import Maintenance
from console.status_bar import EngineStatusBar
from console.wording import human_size
from engine import Config, MediaDeskEngine


class Answers:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answer = QMessageBox.StandardButton.Yes
        self.asked: list[str] = []
        monkeypatch.setattr(QMessageBox, "question", self._question)
        monkeypatch.setattr(QMessageBox, "information", lambda *a: QMessageBox.StandardButton.Ok)
        monkeypatch.setattr(QMessageBox, "warning", lambda *a: QMessageBox.StandardButton.Ok)

    def _question(self, _parent: Any, title: str, _text: str, *_args: Any) -> QMessageBox.StandardButton:
        self.asked.append(title)
        return self.answer


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    return Answers(monkeypatch)


def _open(qtbot: Any, window: MainWindow) -> BackupsDialog:
    dialog = window.open_backups()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0 or "No backups" in dialog.summary.text(), timeout=10_000)
    return dialog


def _select(dialog: BackupsDialog, row: int) -> None:
    dialog.table.selectionModel().select(dialog.model.index(row, 0),
                                         QItemSelectionModel.SelectionFlag.ClearAndSelect
                                         | QItemSelectionModel.SelectionFlag.Rows)


def test_the_model_passes_qtmodeltester(qtmodeltester: Any, engine: MediaDeskEngine) -> None:
    engine.backup()
    engine.backup()
    model = BackupsModel()
    model.set_backups(engine.backups())
    assert model.rowCount() == 2
    qtmodeltester.check(model, force_py=True)
    model.set_backups([])
    qtmodeltester.check(model, force_py=True)


def test_the_dialog_lists_backups_newest_first_and_restores_one(qtbot: Any, window: MainWindow,
                                                               engine: MediaDeskEngine, answers: Answers) -> None:
    say(engine, "111", "Ana", "before the backup")
    first = engine.backup()
    say(engine, "222", "Bea", "after the backup")
    engine.backup()
    dialog = _open(qtbot, window)
    assert dialog.model.rowCount() == 2
    assert dialog.model.index(0, 1).data() == "Taken by hand"
    assert dialog.model.backup(1).path == first  # newest first
    assert dialog.summary.text().startswith(f"2 backups ({human_size(sum(b.size for b in engine.backups()))}) in ")
    assert not dialog.restore_button.isEnabled()  # nothing chosen yet

    _select(dialog, 1)
    assert dialog.restore_button.isEnabled() and dialog.delete_button.isEnabled()
    with qtbot.waitSignal(dialog.loaded, timeout=30_000):
        with qtbot.waitSignal(window.maintenance.finished, timeout=30_000):
            dialog.restore_button.click()
    assert answers.asked == ["Restore the database?"]
    assert [c.name for c in engine.library.chat_page()] == ["Ana"]  # Bea's chat came after the backup
    reasons = [dialog.model.index(r, 1).data() for r in range(dialog.model.rowCount())]
    assert reasons == ["Before a restore", "Taken by hand", "Taken by hand"]
    qtbot.waitUntil(lambda: window.chats.rowCount() == 1, timeout=10_000)  # the window reloaded
    dialog.close()


def test_delete_asks_first_and_removes_the_file(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                                answers: Answers) -> None:
    engine.backup()
    dialog = _open(qtbot, window)
    chosen = dialog.model.backup(0)
    _select(dialog, 0)
    answers.answer = QMessageBox.StandardButton.Cancel
    dialog.delete_button.click()
    assert chosen.path.exists() and dialog.model.rowCount() == 1
    answers.answer = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        dialog.delete_button.click()
    assert answers.asked == ["Delete this backup?", "Delete this backup?"]
    assert not chosen.path.exists() and dialog.model.rowCount() == 0
    assert dialog.summary.text().startswith("No backups yet in ")
    assert not dialog.delete_button.isEnabled()
    dialog.close()


@pytest.fixture
def pg_engine(tmp_path: Any, postgres_server: Any) -> Iterator[MediaDeskEngine]:
    url = postgres_server.create_database()
    eng = MediaDeskEngine(Config(data_dir=tmp_path / "pg-data", database_url=url, backup_every_hours=24))
    eng.open()
    try:
        yield eng
    finally:
        eng.stop()
        postgres_server.drop_database(url)


def test_on_postgresql_the_dialog_says_what_applies(qtbot: Any, pg_engine: MediaDeskEngine) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    maintenance = Maintenance(pg_engine, parent, EngineStatusBar(pg_engine, parent))
    dialog = BackupsDialog(pg_engine, maintenance, parent)
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        pass
    text = dialog.summary.text()
    assert text.startswith("No backups to list: the database is PostgreSQL")
    assert "pg_dump" in text and dialog.table.isHidden()
    assert not dialog.restore_button.isEnabled() and not dialog.delete_button.isEnabled()
