"""A conversation: the newest page of a chat, older pages as the user scrolls up, live media states.

`MessageListModel` adapts the engine library's `conversation` (one statement per page, whatever the
chat's length); engine events arrive through the bridge and touch only the rows they name.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal

from console.bubble_layout import BUSY, MessageRole, ProgressRole
from console.bubbles import MessageDelegate
from console.tasks import run_task
from console.wording import reason_text
from engine import MediaStatus, MediaStatusChanged, MediaView, MessageView

__all__ = ["MessageDelegate", "MessageListModel", "MessageRole", "ProgressRole"]

log = logging.getLogger(__name__)
Index = QModelIndex | QPersistentModelIndex
PAGE = 200


class MessageListModel(QAbstractListModel):
    loaded = Signal()  # a chat finished opening
    older_loaded = Signal(int)  # rows prepended at the top
    appended = Signal(int)  # new messages at the bottom
    load_failed = Signal(str)

    def __init__(self, engine: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.contact_id: int | None = None
        self._rows: list[MessageView] = []
        self._by_media: dict[int, int] = {}  # media id -> row
        self._progress: dict[int, tuple[int, int]] = {}
        self._has_older = False
        self._busy = False
        self._generation = 0
        self._stale_media: set[int] = set()
        self._refresh_timer = QTimer(self, singleShot=True, interval=60)
        self._refresh_timer.timeout.connect(self._refresh_media)
        self.last_open_ms: float | None = None

    # -- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        msg = self._rows[index.row()]
        if role == MessageRole:
            return msg
        if role == Qt.ItemDataRole.DisplayRole:
            return msg.body or msg.type
        if role == ProgressRole:
            return self._progress.get(msg.media.id) if msg.media else None
        if role == Qt.ItemDataRole.ToolTipRole and msg.media and msg.media.status == MediaStatus.FAILED:
            return f"{reason_text(msg.media.reason, msg.media.error)}\n{msg.media.error or ''}".strip()
        return None

    # -- opening a chat
    def open_chat(self, contact_id: int) -> None:
        self._generation += 1
        generation = self._generation
        self.contact_id = contact_id
        started = time.perf_counter()
        self.beginResetModel()
        self._rows, self._by_media, self._progress = [], {}, {}
        self.endResetModel()
        library = self.engine.library

        def work() -> list[MessageView]:
            return library.conversation(contact_id, limit=PAGE, mark_read=True)

        def done(rows: list[MessageView]) -> None:
            if generation != self._generation:
                return
            self.beginResetModel()
            self._rows = rows
            self._has_older = len(rows) >= PAGE
            self._reindex()
            self.endResetModel()
            self.last_open_ms = (time.perf_counter() - started) * 1000
            log.debug("chat %d opened in %.1f ms (%d messages)", contact_id, self.last_open_ms, len(rows))
            self.loaded.emit()

        run_task(work, done, self._failed)

    def clear(self) -> None:
        self._generation += 1
        self.contact_id = None
        self.beginResetModel()
        self._rows, self._by_media, self._progress = [], {}, {}
        self.endResetModel()

    @property
    def has_older(self) -> bool:
        return self._has_older

    def load_older(self) -> None:
        """The user scrolled to the top: prepend the page before the oldest shown message."""
        if not self._has_older or self._busy or not self._rows or self.contact_id is None:
            return
        self._busy = True
        generation, cid, first = self._generation, self.contact_id, self._rows[0]
        library = self.engine.library

        def work() -> list[MessageView]:
            return library.conversation(cid, limit=PAGE, before=(first.created_at, first.id))

        def done(rows: list[MessageView]) -> None:
            self._busy = False
            if generation != self._generation:
                return
            self._has_older = len(rows) >= PAGE
            if rows:
                self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
                self._rows[:0] = rows
                self._reindex()
                self.endInsertRows()
            self.older_loaded.emit(len(rows))

        run_task(work, done, self._failed)

    def load_newer(self) -> None:
        """Messages were stored: append what this chat received since the newest shown one."""
        if self.contact_id is None or self._busy:
            return
        generation, cid = self._generation, self.contact_id
        last = self._rows[-1] if self._rows else None
        library = self.engine.library
        after = (last.created_at, last.id) if last else None

        def work() -> list[MessageView]:
            return library.conversation(cid, limit=PAGE, after=after, mark_read=True)

        def done(rows: list[MessageView]) -> None:
            if generation != self._generation or not rows:
                return
            known = {m.id for m in self._rows[-len(rows) - 5:]}
            rows = [m for m in rows if m.id not in known]
            if not rows:
                return
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self._reindex()
            self.endInsertRows()
            self.appended.emit(len(rows))

        run_task(work, done, self._failed)

    def _reindex(self) -> None:
        self._by_media = {m.media.id: i for i, m in enumerate(self._rows) if m.media is not None}

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        log.warning("could not load the conversation: %s", exc)
        self.load_failed.emit(f"Could not load the conversation: {exc}")

    # -- live media states
    def row_of_media(self, media_id: int) -> int:
        return self._by_media.get(media_id, -1)

    def row_of_message(self, message_id: int) -> int:
        """The message's row if it is loaded, else -1 (Show in chat pages back until it is)."""
        return next((row for row, m in enumerate(self._rows) if m.id == message_id), -1)

    def message(self, row: int) -> MessageView | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def on_media_status(self, event: MediaStatusChanged) -> None:
        row = self._by_media.get(event.media_id)
        if row is None:
            return
        if event.bytes_total:
            self._progress[event.media_id] = (event.bytes_done or 0, event.bytes_total)
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [ProgressRole])
            if self._rows[row].media and self._rows[row].media.status == MediaStatus.PROCESSING:
                return  # progress only: the row itself is unchanged
        # Read the row's new state (path, reason...) rather than trust the event: the row is the truth.
        self._stale_media.add(event.media_id)
        self._refresh_timer.start()

    def _refresh_media(self) -> None:
        ids, self._stale_media = sorted(self._stale_media), set()
        generation = self._generation
        library = self.engine.library

        def work() -> dict[int, MediaView]:
            return library.media(ids)

        run_task(work, lambda found: self._apply_media(generation, found), self._failed)

    def _apply_media(self, generation: int, found: dict[int, MediaView]) -> None:
        if generation != self._generation:
            return
        for media_id, view in found.items():
            row = self._by_media.get(media_id)
            if row is None:  # the chat changed or the row went away meanwhile
                continue
            if view.status != MediaStatus.PROCESSING:
                self._progress.pop(media_id, None)
            self._rows[row] = dataclasses.replace(self._rows[row], media=view)
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def retry(self, media_id: int) -> None:
        """Reset one failed media to pending and queue it again (the engine emits the new states)."""
        engine = self.engine
        run_task(lambda: engine.retry_media([media_id]), None, self._failed)

    def busy_rows(self) -> list[int]:
        return [row for mid, row in self._by_media.items()
                if self._rows[row].media and self._rows[row].media.status in BUSY]
