"""The Retention group in Settings over a real engine: Preview says what would go, Apply does it with progress,
and a media the policy removed says so in its bubble, never as a failure."""

from __future__ import annotations

import gc
import sqlite3
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from console_helpers import media_status, send_media
from PySide6.QtWidgets import QApplication, QMessageBox

from console.bubble_layout import MessageRole, compute_layout, media_kind
from console.retention_settings import RetentionGroup
from console.settings_dialog import SettingsDialog
from console.tasks import wait_for_tasks
from console.wording import removed_text
from engine import Config, MediaDeskEngine
from engine.db.models import utcnow
from engine.simulator import CloudSimulator

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def _age(engine: MediaDeskEngine, wa_media_id: str, days: int) -> None:
    conn = sqlite3.connect(engine.cfg.db_path)
    with conn:
        conn.execute("update chats set created_at = ? where media_id = (select id from chat_media where "
                     "wa_media_id = ?)", ((utcnow() - timedelta(days=days)).isoformat(sep=" "), wa_media_id))
    conn.close()


@pytest.fixture
def stored(qtbot: Any, engine: MediaDeskEngine, sim: CloudSimulator) -> MediaDeskEngine:
    """Two old photos, an old document and a recent photo, all downloaded."""
    for wa_media_id, kind, mime in (("OLD-1", "image", "image/jpeg"), ("OLD-2", "image", "image/jpeg"),
                                    ("OLD-DOC", "document", "application/pdf"), ("NEW", "image", "image/jpeg")):
        send_media(engine, sim, "4155550101", "Rossi Bakery", wa_media_id, kind=kind, mime=mime)
    for wa_media_id in ("OLD-1", "OLD-2", "OLD-DOC", "NEW"):
        qtbot.waitUntil(lambda m=wa_media_id: media_status(engine, m) == "completed", timeout=15_000)
    for wa_media_id in ("OLD-1", "OLD-2", "OLD-DOC"):
        _age(engine, wa_media_id, 200)
    return engine


def test_preview_shows_count_and_size_then_apply_deletes_with_progress(
        qtbot: Any, stored: MediaDeskEngine, cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    group = RetentionGroup(cfg, stored)
    qtbot.addWidget(group)
    group.resize(900, 220)
    group.show()
    assert not group.preview_button.isEnabled(), "keeping everything has nothing to preview"
    group.action.setCurrentIndex(group.action.findData("delete"))
    group.days.setValue(90)
    group.types["document"].setChecked(False)
    assert group.changes() == {"retention_action": "delete", "retention_days": 90,
                               "retention_types": ("image", "video", "audio", "sticker")}
    assert not group.apply_button.isEnabled(), "Apply comes after a preview"
    with qtbot.waitSignal(group.previewed, timeout=10_000) as previewed:
        group.preview_button.click()
    plan = previewed.args[0]
    assert plan.media == 2 and [(line.type, line.media) for line in plan.lines] == [("image", 2)]
    assert "Would delete 2 photos" in group.result.text() and "Frees" in group.result.text()
    assert group.apply_button.isEnabled()
    assert [media_status(stored, m) for m in ("OLD-1", "OLD-2", "OLD-DOC", "NEW")] == ["completed"] * 4
    group.grab().save(str(_shot("retention-preview.png")))

    asked: list[str] = []

    def confirm(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", confirm)
    with qtbot.waitSignal(group.applied, timeout=20_000) as applied:
        group.apply_button.click()
        assert group.progress.isVisible() and group.cancel_button.isVisible()
    assert "Delete 2 media" in asked[0] and "cannot be brought back" in asked[0]
    assert applied.args[0].removed == 2
    assert group.progress.value() == 2 == group.progress.maximum() and not group.progress.isVisible()
    assert group.result.text().startswith("Done: ")
    assert [media_status(stored, m) for m in ("OLD-1", "OLD-2", "OLD-DOC", "NEW")] == [
        "removed", "removed", "completed", "completed"]
    group.grab().save(str(_shot("retention-applied.png")))
    group.close()


def test_a_cancelled_confirmation_changes_nothing(qtbot: Any, stored: MediaDeskEngine, cfg: Config,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    group = RetentionGroup(cfg.with_changes(retention_action="delete", retention_days=30), stored)
    qtbot.addWidget(group)
    with qtbot.waitSignal(group.previewed, timeout=10_000):
        group.preview_button.click()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Cancel)
    group.apply_button.click()
    assert not group.progress.isVisible()
    assert [media_status(stored, m) for m in ("OLD-1", "OLD-2", "OLD-DOC")] == ["completed"] * 3
    group.days.setValue(31)
    assert not group.apply_button.isEnabled(), "a preview is of the values it was made for"


def test_a_group_dropped_while_its_preview_runs_goes_on_the_gui_thread(qtbot: Any, stored: MediaDeskEngine,
                                                                       cfg: Config) -> None:
    group = RetentionGroup(cfg.with_changes(retention_action="delete", retention_days=30), stored)
    group.preview_button.click()
    gone = weakref.ref(group)
    del group
    gc.collect()
    assert gone() is None, "the running task must not keep the widget alive (its pool thread would destroy it)"
    assert wait_for_tasks(10_000)
    QApplication.processEvents()  # the finished preview's callback finds no widget and does nothing


def test_the_settings_dialog_saves_the_policy(qtbot: Any, engine: MediaDeskEngine, cfg: Config) -> None:
    dialog = SettingsDialog(cfg, engine=engine)
    qtbot.addWidget(dialog)
    dialog.retention.action.setCurrentIndex(dialog.retention.action.findData("delete"))
    dialog.retention.days.setValue(365)
    dialog.fields["port"].editor.setText("8787")  # the test engine listens on port 0, which Settings refuses
    new = dialog.result_config()
    assert (new.retention_action, new.retention_days, new.retention_types) == ("delete", 365, ())
    dialog.show()
    qtbot.waitUntil(lambda: dialog.isVisible())
    dialog.grab().save(str(_shot("settings-with-retention.png")))
    dialog.close()
    _settle(dialog)


def test_moving_to_s3_asks_for_the_bucket_while_new_files_stay_here(qtbot: Any, cfg: Config) -> None:
    dialog = SettingsDialog(cfg)
    qtbot.addWidget(dialog)
    dialog.fields["port"].editor.setText("8787")
    bucket = dialog.fields["s3_bucket"].editor
    assert not bucket.isEnabled()
    dialog.retention.action.setCurrentIndex(dialog.retention.action.findData("s3"))
    assert bucket.isEnabled() and dialog.fields["s3_region"].editor.isEnabled()
    assert not dialog.revalidate(), "no bucket yet: nothing to move the files to"
    bucket.setText("rossi-archive")
    assert dialog.revalidate() and dialog.test_button.isEnabled()
    new = dialog.result_config()
    assert (new.storage, new.s3_bucket, new.retention_action) == ("local", "rossi-archive", "s3")
    _settle(dialog)


def test_a_removed_media_says_so_in_its_bubble_and_is_no_failure(qtbot: Any, window: Any,
                                                                 stored: MediaDeskEngine) -> None:
    from engine import RetentionPolicy, RetentionRule

    stored.apply_retention(RetentionPolicy((RetentionRule("delete", 30),)))
    with qtbot.waitSignal(window.chats.loaded, timeout=5000):
        window.chats.reload()
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        assert window.select_chat(window.chats.summary(0).contact_id)
    model, view = window.messages, window.conversation
    msgs = [model.index(r).data(MessageRole) for r in range(model.rowCount())]
    removed = [m for m in msgs if m.media and m.media.status == "removed"]
    assert len(removed) == 3 and all(m.media.removed_at for m in removed)
    for m in removed:
        assert media_kind(m) == "removed"
        layout = compute_layout(m, view.viewport().width(), window.message_delegate.fonts, show_day=False)
        assert not layout.buttons, "no Retry for what the owner chose to remove"
    today = utcnow()
    assert removed_text(removed[0].media.removed_at) == f"Removed on {today.day} {today:%B %Y} by your retention policy"
    assert window.chats.summary(0).failed_media == 0
    view.scrollToTop()
    window.resize(1100, 800)
    window.grab().save(str(_shot("removed-media-bubbles.png")))


def _settle(dialog: SettingsDialog) -> None:
    """The dialog's own keyring and workspace reads hold it until they finish: let them finish while the test
    still holds it too, so its last reference is never dropped on a pool thread (Qt would crash there)."""
    assert wait_for_tasks(10_000)
    QApplication.processEvents()
    assert dialog is not None


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / name
