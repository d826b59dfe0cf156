"""Show in chat: from a media elsewhere (the Media view) to its message in the main window's conversation.

The chat is selected in the list when its row is loaded; otherwise the conversation opens on its own and the
header is filled from a search for the number. Then older pages are read until the message is there, and the
conversation scrolls it to the middle.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView

from console.tasks import run_task
from engine import MediaItem

MAX_OLDER_PAGES = 250  # 50,000 messages back: past that the owner scrolls by hand


class ShowInChat(QObject):
    found = Signal(int)  # the message's row in the conversation, once it is scrolled to

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self._target: tuple[int, int] | None = None
        self._older = 0
        window.messages.loaded.connect(self._look)
        window.messages.older_loaded.connect(lambda _n: self._look())

    def show(self, item: MediaItem) -> None:
        w = self.window
        if item.contact_id is None:
            return
        self._target, self._older = (item.contact_id, item.message_id), 0
        w.show_view("Chats")
        if w.messages.contact_id == item.contact_id and w.messages.rowCount():
            self._look()
        elif not w.select_chat(item.contact_id):
            w.chat_list.selectionModel().clear()
            w.right_stack.setCurrentIndex(1)
            w.chat_export.set_contact(item.contact_id)
            w.messages.open_chat(item.contact_id)
            library, wa_id, cid = w.engine.library, item.wa_id or "", item.contact_id
            run_task(lambda: library.chat_page(search=wa_id, limit=20),
                     lambda chats: self._fill_header(cid, chats))

    def _fill_header(self, contact_id: int, chats: list[Any]) -> None:
        chat = next((c for c in chats if c.contact_id == contact_id), None)
        if chat is not None and self.window.messages.contact_id == contact_id:
            self.window.header.show_chat(chat)

    def _look(self) -> None:
        if self._target is None:
            return
        contact_id, message_id = self._target
        messages = self.window.messages
        if messages.contact_id != contact_id:
            return
        row = messages.row_of_message(message_id)
        if row >= 0:
            self._target = None
            # After the conversation's own scroll (to the newest message, or back to its place): ours wins.
            QTimer.singleShot(50, self, lambda: self._scroll(row))
        elif messages.has_older and self._older < MAX_OLDER_PAGES:
            self._older += 1
            messages.load_older()
        else:
            self._target = None
            self.window.bridge.info("That message is too far back to scroll to; it is in this chat's history.")

    def _scroll(self, row: int) -> None:
        view = self.window.conversation
        view.scrollTo(self.window.messages.index(row), QAbstractItemView.ScrollHint.PositionAtCenter)
        self.found.emit(row)
