"""The chat list in the window: the open chat stays selected while new messages reorder the list."""

from __future__ import annotations

from typing import Any

from console_helpers import say

from console.chat_list import SummaryRole
from console.main_window import MainWindow
from engine import MediaDeskEngine


def _selected_name(window: MainWindow) -> str | None:
    rows = window.chat_list.selectionModel().selectedRows()
    return rows[0].data(SummaryRole).name if len(rows) == 1 and rows[0].data(SummaryRole) else None


def test_reload_keeps_the_open_chat_selected(qtbot: Any, window: MainWindow, engine: MediaDeskEngine) -> None:
    say(engine, "701", "Ana", "first", minutes_ago=30)
    say(engine, "702", "Ben", "second", minutes_ago=20)
    say(engine, "703", "Cleo", "third", minutes_ago=10)
    qtbot.waitUntil(lambda: window.chats.rowCount() == 3 and window.chats.summary(0).name == "Cleo", timeout=5000)
    ben = window.chats.summary(1).contact_id
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        assert window.select_chat(ben)
    assert _selected_name(window) == "Ben"

    say(engine, "704", "Dana", "a new customer", minutes_ago=1)  # one more row, inserted on top
    qtbot.waitUntil(lambda: window.chats.rowCount() == 4, timeout=5000)
    qtbot.waitUntil(lambda: window.chat_list.currentIndex().row() == 2, timeout=5000)
    assert _selected_name(window) == "Ben"

    say(engine, "701", "Ana", "back again")  # same rows, new order: Ana, Dana, Cleo, Ben
    qtbot.waitUntil(lambda: window.chats.summary(0) is not None and window.chats.summary(0).name == "Ana",
                    timeout=5000)
    qtbot.waitUntil(lambda: window.chat_list.currentIndex().row() == 3, timeout=5000)
    assert _selected_name(window) == "Ben" and window.messages.contact_id == ben


def test_typing_in_the_list_searches(qtbot: Any, window: MainWindow, engine: MediaDeskEngine) -> None:
    # Qt's own type-ahead would ask the model for every row; the letters go to the search box instead.
    say(engine, "801", "Ana", "hello", minutes_ago=3)
    say(engine, "802", "Ben", "hi", minutes_ago=2)
    qtbot.waitUntil(lambda: window.chats.rowCount() == 2, timeout=5000)
    window.chat_list.setFocus()
    qtbot.keyClicks(window.chat_list, "b")
    assert window.search.text() == "b" and window.search.hasFocus()
    qtbot.keyClicks(window.search, "en")
    qtbot.waitUntil(lambda: window.chats.rowCount() == 1 and window.chats.summary(0) is not None
                    and window.chats.summary(0).name == "Ben", timeout=5000)
