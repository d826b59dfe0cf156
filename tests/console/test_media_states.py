"""Media states in the conversation: a failed media says why and offers Retry; Retry brings it back."""

from __future__ import annotations

from typing import Any

from console_helpers import media_status, send_media
from PySide6.QtCore import QPoint, Qt

from console.bubble_layout import MessageRole, compute_layout
from console.main_window import MainWindow
from console.wording import reason_text
from engine import MediaDeskEngine
from engine.simulator import CloudSimulator, Fault


def _open_chat_with(qtbot: Any, window: MainWindow, engine: MediaDeskEngine) -> None:
    with qtbot.waitSignal(window.chats.loaded, timeout=5000):
        window.chats.reload()
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        assert window.select_chat(window.chats.summary(0).contact_id)


def test_failed_media_shows_reason_and_retry_turns_it_shown(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                                             sim: CloudSimulator) -> None:
    send_media(engine, sim, "555", "Eve", "9200", caption="sourdough", fault=Fault(status=404))
    qtbot.waitUntil(lambda: media_status(engine, "9200") == "failed", timeout=10_000)
    _open_chat_with(qtbot, window, engine)

    model, view = window.messages, window.conversation
    msg = model.index(0).data(MessageRole)
    assert msg.media.status == "failed" and msg.media.reason == "gone"
    assert reason_text(msg.media.reason) == "Deleted by the sender or no longer on WhatsApp"
    assert "Deleted by the sender" in model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    layout = compute_layout(msg, view.viewport().width(), window.message_delegate.fonts, show_day=True)
    assert "retry" in layout.buttons
    assert window.chats.summary(0).failed_media == 1

    sim.set_fault("9200", None)  # Meta has the file again
    rect = view.visualRect(model.index(0))
    click = rect.topLeft() + layout.buttons["retry"].center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=click)

    def shown() -> bool:
        m = model.index(0).data(MessageRole)
        return (m.media.status == "completed"
                and window.thumbnails.get(m.media.id, m.media.path, m.media.location) is not None)

    qtbot.waitUntil(shown, timeout=15_000)
    layout = compute_layout(model.index(0).data(MessageRole), view.viewport().width(),
                            window.message_delegate.fonts, show_day=True)
    assert "retry" not in layout.buttons and "view" in layout.buttons
    qtbot.waitUntil(lambda: window.chats.summary(0).failed_media == 0, timeout=5000)  # the red badge goes too


def test_pending_media_turns_shown_live(qtbot: Any, window: MainWindow, engine: MediaDeskEngine,
                                        sim: CloudSimulator) -> None:
    engine.pause_workers()
    send_media(engine, sim, "666", "Finn", "9300", kind="document", mime="application/pdf")
    _open_chat_with(qtbot, window, engine)
    assert window.messages.index(0).data(MessageRole).media.status == "pending"
    assert window.messages.busy_rows() == [0]
    engine.resume_workers()
    qtbot.waitUntil(lambda: window.messages.index(0).data(MessageRole).media.status == "completed", timeout=10_000)
    msg = window.messages.index(0).data(MessageRole)
    layout = compute_layout(msg, 600, window.message_delegate.fonts, show_day=False)
    assert {"open", "folder"} <= set(layout.buttons)
    assert engine.storage.local_path(msg.media.path).exists()


def test_every_message_kind_paints_something(qtbot: Any, window: MainWindow, engine: MediaDeskEngine) -> None:
    import json
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "fixtures" / "webhooks"
    engine.ingest([json.loads(p.read_text()) for p in sorted(fixtures.glob("*.json"))])
    with qtbot.waitSignal(window.chats.loaded, timeout=5000):
        window.chats.reload()
    fonts = window.message_delegate.fonts
    for row in range(window.chats.rowCount()):
        with qtbot.waitSignal(window.chat_opened, timeout=5000):
            window.select_chat(window.chats.summary(row).contact_id)
        for r in range(window.messages.rowCount()):
            msg = window.messages.index(r).data(MessageRole)
            layout = compute_layout(msg, 700, fonts, show_day=False)
            # never blank: there is text, a media box, or a reaction/system pill
            assert layout.text is not None or layout.media is not None or msg.type in ("reaction", "system"), msg
        window.conversation.grab()  # paints every bubble once: a crash here fails the test
    assert window.grab().toImage().pixelColor(QPoint(5, 5)).isValid()
