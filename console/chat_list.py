"""The chat list: a paged model over `chat_summaries` and a delegate that paints WhatsApp-like rows.

Rows have one fixed height, so the view lays out 100,000 chats without asking the delegate for each
one; pages arrive from the pool (`run_task`) as the user scrolls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from console.tasks import run_task
from console.wording import initials, list_time, phone, preview
from engine.db.queries import ChatSummary, chat_summaries

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex
SummaryRole = Qt.ItemDataRole.UserRole + 1
ContactIdRole = Qt.ItemDataRole.UserRole + 2
PAGE = 200
ROW_HEIGHT = 72

AVATAR_COLORS = ("#00a884", "#53bdeb", "#ff7a59", "#a17fe0", "#e542a3", "#ffbc38", "#02a698", "#5f66cd",
                 "#fc6c63", "#009de2")


def avatar_color(key: str) -> QColor:
    """A stable colour per contact, as WhatsApp does for initials."""
    digest = hashlib.md5(key.encode(), usedforsecurity=False).digest()
    return QColor(AVATAR_COLORS[digest[0] % len(AVATAR_COLORS)])


class ChatListModel(QAbstractListModel):
    """Thin adapter over `chat_summaries`: pages in on demand, reloads when the engine stores messages."""

    loaded = Signal()  # a load or page finished (tests and --screenshot wait on it)
    load_failed = Signal(str)

    def __init__(self, engine: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._rows: list[ChatSummary] = []
        self._search = ""
        self._exhausted = True  # nothing to fetch until the first reload
        self._loading = False
        self._generation = 0  # bumps on reload/search so late pages of an old query are dropped

    # -- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        chat = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return chat.name or phone(chat.wa_id)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{chat.name or ''} {phone(chat.wa_id)}".strip()
            if chat.failed_media:
                tip += f"\n{chat.failed_media} media could not be downloaded"
            return tip
        if role == SummaryRole:
            return chat
        if role == ContactIdRole:
            return chat.contact_id
        return None

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid() or self._exhausted or self._loading:
            return
        self._loading = True
        generation, search, offset = self._generation, self._search, len(self._rows)
        run_task(lambda: self._query(search, PAGE, offset),
                 lambda rows: self._append(generation, rows), self._failed)

    # -- loading
    def _query(self, search: str, limit: int, offset: int) -> list[ChatSummary]:
        with self.engine.db.session() as s:
            return chat_summaries(s, search=search or None, limit=limit, offset=offset)

    def reload(self) -> None:
        """Re-read as many rows as are shown now (at least one page), e.g. after new messages."""
        self._generation += 1
        self._loading = True
        generation, search, limit = self._generation, self._search, max(PAGE, len(self._rows))
        run_task(lambda: self._query(search, limit, 0), lambda rows: self._replace(generation, rows, limit),
                 self._failed)

    def set_search(self, text: str) -> None:
        text = text.strip()
        if text == self._search:
            return
        self._search = text
        self.beginResetModel()
        self._rows = []
        self.endResetModel()
        self.reload()

    def _replace(self, generation: int, rows: list[ChatSummary], limit: int) -> None:
        if generation != self._generation:
            return  # a newer search or reload superseded this one
        self._loading = False
        self.beginResetModel()
        self._rows = rows
        self._exhausted = len(rows) < limit
        self.endResetModel()
        self.loaded.emit()

    def _append(self, generation: int, rows: list[ChatSummary]) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._exhausted = len(rows) < PAGE
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self._loading = False
        log.warning("could not load the chat list: %s", exc)
        self.load_failed.emit(f"Could not load the chat list: {exc}")

    def mark_read(self, contact_id: int) -> None:
        """The chat was opened (the engine recorded it): its unread badge goes now, not at the next reload."""
        row = self.row_of(contact_id)
        if row >= 0 and self._rows[row].unread:
            self._rows[row] = dataclasses.replace(self._rows[row], unread=0)
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    # -- lookups for the window
    def row_of(self, contact_id: int) -> int:
        return next((i for i, c in enumerate(self._rows) if c.contact_id == contact_id), -1)

    def summary(self, row: int) -> ChatSummary | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None


class ChatListDelegate(QStyledItemDelegate):
    """Paints a row: avatar with initials, name or number, time, preview, unread and failed badges."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        base = QFont()
        self.name_font = QFont(base)
        self.name_font.setPointSizeF(base.pointSizeF() + 1.5)
        self.name_font.setWeight(QFont.Weight.DemiBold)
        self.small_font = QFont(base)
        self.small_font.setPointSizeF(base.pointSizeF() - 0.5)
        self.badge_font = QFont(base)
        self.badge_font.setPointSizeF(base.pointSizeF() - 1.5)
        self.badge_font.setBold(True)
        self.avatar_font = QFont(base)
        self.avatar_font.setPointSizeF(base.pointSizeF() + 2)
        self.avatar_font.setBold(True)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(300, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        chat: ChatSummary | None = index.data(SummaryRole)
        if chat is None:
            return
        r = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.fillRect(r, QColor("#f0f2f5") if selected else QColor("#f5f6f6") if hovered else QColor("white"))

        # avatar
        size = 48
        avatar = QRect(r.left() + 12, r.top() + (r.height() - size) // 2, size, size)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(avatar_color(chat.wa_id))
        painter.drawEllipse(avatar)
        painter.setPen(QColor("white"))
        painter.setFont(self.avatar_font)
        painter.drawText(avatar, Qt.AlignmentFlag.AlignCenter, initials(chat.name, chat.wa_id))

        left = avatar.right() + 14
        right = r.right() - 14
        # separator like WhatsApp: starts after the avatar
        painter.setPen(QPen(QColor("#e9edef"), 1))
        painter.drawLine(left, r.bottom(), r.right(), r.bottom())

        # first line: name ... time
        when = list_time(chat.last_at)
        painter.setFont(self.small_font)
        fm_small = QFontMetrics(self.small_font)
        time_w = fm_small.horizontalAdvance(when)
        line1 = QRect(left, r.top() + 13, right - left, 22)
        painter.setPen(QColor("#1fa855") if chat.unread else QColor("#667781"))
        painter.drawText(line1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, when)
        painter.setFont(self.name_font)
        painter.setPen(QColor("#111b21"))
        name = chat.name or phone(chat.wa_id)
        name = QFontMetrics(self.name_font).elidedText(name, Qt.TextElideMode.ElideRight, line1.width() - time_w - 10)
        painter.drawText(line1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)

        # second line: preview ... badges (failed media in red, unread in green)
        line2 = QRect(left, r.top() + 38, right - left, 22)
        badges_w = 0
        painter.setFont(self.badge_font)
        for count, color in ((chat.unread, "#25d366"), (chat.failed_media, "#ea0038")):
            if not count:
                continue
            text = str(count) if count < 1000 else "999+"
            w = max(20, QFontMetrics(self.badge_font).horizontalAdvance(text) + 12)
            badge = QRect(right - badges_w - w, line2.top() + 1, w, 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(color))
            painter.drawRoundedRect(badge, 10, 10)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
            badges_w += w + 6
        painter.setFont(self.small_font)
        painter.setPen(QColor("#667781"))
        text = preview(chat.last_type, chat.last_preview).replace("\n", " ")
        text = fm_small.elidedText(text, Qt.TextElideMode.ElideRight, line2.width() - badges_w - 4)
        painter.drawText(line2, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()
