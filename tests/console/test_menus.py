"""Database and Queue menu actions confirm first, run in the background and do what they say."""

from __future__ import annotations

from typing import Any

import pytest
from console_helpers import media_status, send_media
from PySide6.QtWidgets import QMessageBox

from console.main_window import MainWindow
from engine import MediaDeskEngine
from engine.db.migrate import current_revision, head_revision
from engine.simulator import CloudSimulator, Fault


class Dialogs:
    """Answers QMessageBox like a user would, and remembers what was asked and said."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answer: QMessageBox.StandardButton) -> None:
        self.questions: list[str] = []
        self.reports: list[str] = []
        self.answer = answer
        monkeypatch.setattr(QMessageBox, "question", self._question)
        monkeypatch.setattr(QMessageBox, "information", self._report)
        monkeypatch.setattr(QMessageBox, "warning", self._report)

    def _question(self, _parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        self.questions.append(title)
        return self.answer

    def _report(self, _parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        self.reports.append(text)
        return QMessageBox.StandardButton.Ok


@pytest.fixture
def yes(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    return Dialogs(monkeypatch, QMessageBox.StandardButton.Yes)


def _trigger(qtbot: Any, window: MainWindow, action: Any) -> Any:
    with qtbot.waitSignal(window.maintenance.finished, timeout=20_000) as blocker:
        action.trigger()
    return blocker.args[1]


def test_backup_now_writes_a_backup_and_says_where(qtbot: Any, window: MainWindow, yes: Dialogs) -> None:
    path = _trigger(qtbot, window, window.backup_action)
    assert path.exists() and path.parent == window.cfg.backups_dir
    assert str(path) in yes.reports[-1]


def test_rollback_confirms_backs_up_and_migrate_brings_it_back(qtbot: Any, window: MainWindow, yes: Dialogs) -> None:
    cfg = window.cfg
    head = head_revision(cfg)
    result = _trigger(qtbot, window, window.rollback_action)
    assert yes.questions == ["Roll back the database?"]
    assert result.before == head and current_revision(cfg) == result.after != head
    assert result.backup.exists() and str(result.backup) in yes.reports[-1]
    result = _trigger(qtbot, window, window.migrate_action)
    assert current_revision(cfg) == head and result.backup.exists()


def test_cancel_leaves_everything_as_it_was(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    dialogs = Dialogs(monkeypatch, QMessageBox.StandardButton.Cancel)
    head = head_revision(window.cfg)
    for action in (window.rollback_action, window.flush_action, window.retry_all_action, window.migrate_action):
        action.trigger()
    assert len(dialogs.questions) == 4 and not dialogs.reports
    assert window.maintenance.running is None
    assert current_revision(window.cfg) == head and not window.cfg.backups_dir.exists()


def test_flush_empties_the_queue_and_media_stay_pending(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                                       sim: CloudSimulator, yes: Dialogs) -> None:
    engine.pause_workers()
    for i in range(3):
        send_media(engine, sim, "777", "Gus", f"94{i:02d}")
    assert engine.queue_length() == 3
    dropped = _trigger(qtbot, window, window.flush_action)
    assert dropped == 3 and engine.queue_length() == 0
    assert yes.questions == ["Flush the download queue?"]
    assert all(media_status(engine, f"94{i:02d}") == "pending" for i in range(3))
    engine.resume_workers()


def test_retry_all_failed_downloads_them_again(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                               sim: CloudSimulator, yes: Dialogs) -> None:
    send_media(engine, sim, "888", "Hana", "9500", fault=Fault(status=404))
    send_media(engine, sim, "888", "Hana", "9501", fault=Fault(status=404))
    qtbot.waitUntil(lambda: media_status(engine, "9501") == "failed" == media_status(engine, "9500"),
                    timeout=10_000)
    sim.set_fault("9500", None)
    sim.set_fault("9501", None)
    queued = _trigger(qtbot, window, window.retry_all_action)
    assert queued == 2 and yes.questions == ["Retry all failed media?"]
    qtbot.waitUntil(lambda: media_status(engine, "9500") == "completed" == media_status(engine, "9501"),
                    timeout=10_000)


def test_pause_and_resume_workers(qtbot: Any, window: MainWindow, engine: MediaDeskEngine) -> None:
    _trigger(qtbot, window, window.pause_action)
    assert engine.workers_paused and window.pause_action.text() == "Resume workers"
    _trigger(qtbot, window, window.pause_action)
    assert not engine.workers_paused and window.pause_action.text() == "Pause workers"


def test_status_bar_shows_listener_queue_workers_and_health(qtbot: Any, window: MainWindow,
                                                            engine: MediaDeskEngine) -> None:
    engine.health_check()
    window.status.refresh()
    qtbot.waitUntil(lambda: window.status.last is not None and window.status.last.health_ok is not None,
                    timeout=5000)
    assert engine.listener.address in window.status.listener.text()
    assert window.status.queue.text() == "Queue: 0"
    assert window.status.workers.text() == "Workers: 2 alive"
    assert window.status.health.text().startswith("Health:")


def test_every_view_opens(qtbot: Any, window: MainWindow) -> None:
    for name in ("Health", "Charts", "Logs", "Media", "Chats"):
        window.show_view(name)
        assert window.stack.currentWidget() is window._views[name]
