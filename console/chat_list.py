"""The chat list: a virtual model over the engine library's chat count and pages; a delegate paints the rows.

The model knows how many chats match before it holds any of them: a reload counts them off the GUI
thread and sizes the list to that many rows at once. Rows whose page has not arrived are placeholders (the
delegate paints a skeleton); asking for one schedules its page on the pool (`run_task`), and the page's
rows change in place when it lands. Rows are never inserted while the user scrolls; a reload that finds more
chats inserts them at the top (newest first), another search or fewer chats resets. The view is a one-column
table (`ChatListView`): its rows are fixed header sections, so a reset or an insert at 100,000 chats does not
call into the model once per row, as QListView's layout did (frames of 160-350 ms).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
)

from console import gc_guard
from console.row_paint import baseline
from console.tasks import run_task
from console.wording import initials, list_time, phone, preview
from engine import ChatSummary

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex
SummaryRole = Qt.ItemDataRole.UserRole + 1
ContactIdRole = Qt.ItemDataRole.UserRole + 2
PAGE = 200
ROW_HEIGHT = 72
CACHE_PAGES = 200  # 40,000 summaries at most; the least recently painted page goes first
IN_FLIGHT = 1  # one page read at a time: on a 2-core machine a second one takes the GUI thread's core
WANTED = 4  # pages waiting to be read; older wishes are dropped (a fast scroll asks for hundreds)
HOT_PAGES = 3  # a reload re-reads this many most recently painted pages with the count

AVATAR_COLORS = ("#00a884", "#53bdeb", "#ff7a59", "#a17fe0", "#e542a3", "#ffbc38", "#02a698", "#5f66cd",
                 "#fc6c63", "#009de2")


def avatar_color(key: str) -> QColor:
    """A stable colour per contact, as WhatsApp does for initials."""
    digest = hashlib.md5(key.encode(), usedforsecurity=False).digest()
    return QColor(AVATAR_COLORS[digest[0] % len(AVATAR_COLORS)])


class ChatListModel(QAbstractListModel):
    """Thin adapter over the library's `chat_pages` and `chat_page`: every matching chat is a row from the start,
    pages of `PAGE` rows are read when a row of theirs is first asked for."""

    loaded = Signal()  # a reload or a page arrived (the window re-selects the open chat; tests wait on it)
    load_failed = Signal(str)

    def __init__(self, engine: Any, parent: Any = None, *, cache_pages: int = CACHE_PAGES) -> None:
        super().__init__(parent)
        self.engine = engine
        self._count = 0
        self._pages: OrderedDict[int, list[ChatSummary]] = OrderedDict()  # page -> rows, least recently used first
        self._wanted: OrderedDict[int, None] = OrderedDict()  # pages asked for, newest last
        self._in_flight: set[int] = set()
        self._failed_pages: set[int] = set()  # not asked again until the next reload
        self._cache_pages = cache_pages
        self._search = ""
        self._reloading = False
        self._generation = 0  # bumps on reload/search so late pages of an old query are dropped
        # Requests are sent once the view has finished painting: one pass of placeholders asks once.
        self._request_timer = QTimer(self, singleShot=True, interval=0)
        self._request_timer.timeout.connect(self._request_pages)

    @property
    def _loading(self) -> bool:
        """A count or a page is being read (the screenshot waits for the list to settle)."""
        return self._reloading or bool(self._in_flight)

    # -- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else self._count

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if not index.isValid() or not 0 <= row < self._count:
            return None
        chat = self._chat(row)
        if chat is None:  # a placeholder until its page arrives
            return None
        if role == SummaryRole:
            return chat
        if role == Qt.ItemDataRole.DisplayRole:
            return chat.name or phone(chat.wa_id)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{chat.name or ''} {phone(chat.wa_id)}".strip()
            if chat.failed_media:
                tip += f"\n{chat.failed_media} media could not be downloaded"
            return tip
        if role == ContactIdRole:
            return chat.contact_id
        return None

    def _chat(self, row: int) -> ChatSummary | None:
        page, offset = divmod(row, PAGE)
        rows = self._pages.get(page)
        if rows is None:
            self._want(page)
            return None
        self._pages.move_to_end(page)  # painted now: the last page the cache lets go
        return rows[offset] if offset < len(rows) else None  # a short page: chats went since the count

    # -- pages
    def _want(self, page: int) -> None:
        if page in self._in_flight or page in self._failed_pages:
            return
        self._wanted[page] = None
        self._wanted.move_to_end(page)
        while len(self._wanted) > WANTED:
            self._wanted.popitem(last=False)  # scrolled past long ago; asked again if painted again
        if not self._request_timer.isActive():
            self._request_timer.start()

    def _request_pages(self) -> None:
        while self._wanted and len(self._in_flight) < IN_FLIGHT:
            page, _ = self._wanted.popitem(last=True)  # the newest wish is what is on screen now
            if page in self._pages or page * PAGE >= self._count:
                continue
            self._read_page(page)

    def _read_page(self, page: int) -> None:
        self._in_flight.add(page)
        generation, search = self._generation, self._search or None

        library = self.engine.library

        def work() -> list[ChatSummary]:
            return library.chat_page(search=search, limit=PAGE, offset=page * PAGE)

        run_task(work, lambda rows: self._page_arrived(generation, page, rows),
                 lambda exc: self._page_failed(generation, page, exc))

    def _page_arrived(self, generation: int, page: int, rows: list[ChatSummary]) -> None:
        if generation != self._generation:
            return  # a newer search or reload superseded this one
        self._in_flight.discard(page)
        self._store(page, rows)
        first, last = page * PAGE, min(self._count, (page + 1) * PAGE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first), self.index(last))
        self.loaded.emit()
        self._request_pages()

    def _page_failed(self, generation: int, page: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._in_flight.discard(page)
        self._failed_pages.add(page)
        self._failed(exc)
        self._request_pages()

    def _store(self, page: int, rows: list[ChatSummary]) -> None:
        self._pages[page] = rows
        self._pages.move_to_end(page)
        while len(self._pages) > self._cache_pages:
            self._pages.popitem(last=False)

    # -- loading
    def reload(self) -> None:
        """Count again and re-read the pages on screen, e.g. after new messages."""
        hot = list(self._pages)[-HOT_PAGES:] or [0]
        self._start_reload(hot, reset=False)

    def set_search(self, text: str) -> None:
        text = text.strip()
        if text == self._search:
            return
        self._search = text
        self._start_reload([0], reset=True)

    def _start_reload(self, hot: list[int], *, reset: bool) -> None:
        self._generation += 1
        self._in_flight.clear()
        self._wanted.clear()
        self._reloading = True
        generation, search = self._generation, self._search

        library = self.engine.library

        def work() -> tuple[int, dict[int, list[ChatSummary]]]:
            return library.chat_pages(hot, page_size=PAGE, search=search or None)

        run_task(work, lambda result: self._reloaded(generation, *result, reset=reset), self._reload_failed)

    def _reloaded(self, generation: int, count: int, pages: dict[int, list[ChatSummary]], *, reset: bool) -> None:
        if generation != self._generation:
            return
        self._reloading = False
        self._failed_pages.clear()
        if reset or count < self._count:
            # Another search, or chats went: the rows have nothing to do with the old ones.
            self.beginResetModel()
            self._count = count
            self._pages = OrderedDict(pages)
            self.endResetModel()
        elif count > self._count:
            # New chats: the list is newest first, so they are the top rows. Inserting them there (not a
            # reset) moves the selection, the current row and the rows below down with their chats; rows
            # that moved for another reason are put right by the window once their page is read.
            self.beginInsertRows(QModelIndex(), 0, count - self._count - 1)
            self._count = count
            self._pages = OrderedDict(pages)
            self.endInsertRows()
            self.dataChanged.emit(self.index(0), self.index(count - 1))  # the other rows were re-read too
        else:
            self._pages = OrderedDict(pages)  # other pages are stale: read again when painted
            if count:
                self.dataChanged.emit(self.index(0), self.index(count - 1))
        self.loaded.emit()

    def _reload_failed(self, exc: BaseException) -> None:
        self._reloading = False
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        log.warning("could not load the chat list: %s", exc)
        self.load_failed.emit(f"Could not load the chat list: {exc}")

    def mark_read(self, contact_id: int) -> None:
        """The chat was opened (the engine recorded it): its unread badge goes now, not at the next reload."""
        row = self.row_of(contact_id)
        if row < 0:
            return
        rows = self._pages[row // PAGE]
        chat = rows[row % PAGE]
        if chat.unread:
            rows[row % PAGE] = dataclasses.replace(chat, unread=0)
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    # -- lookups for the window
    def row_of(self, contact_id: int) -> int:
        """The chat's row if its page is loaded, else -1."""
        for page, rows in self._pages.items():
            for offset, chat in enumerate(rows):
                if chat.contact_id == contact_id:
                    return page * PAGE + offset
        return -1

    def summary(self, row: int) -> ChatSummary | None:
        """The chat at `row` if its page is loaded (never schedules a read)."""
        rows = self._pages.get(row // PAGE) if 0 <= row < self._count else None
        return rows[row % PAGE] if rows is not None and row % PAGE < len(rows) else None


class ChatListView(QTableView):
    """The list of chats: one stretched column of rows of one height, scrolled per pixel, repainted (not laid
    out) when rows change.

    A table, not a QListView: QListView in list mode lays out every row again on a reset, an insert or any
    `dataChanged` (QListModeViewBase asks the Python model's rowCount() twice per row, uniform sizes or not):
    160-230 ms at 100,000 chats. A table's rows are the sections of its vertical header, and a header of fixed
    sections is sized from the row count alone, in C++: a reset or an insert at 100,000 chats costs ~1 ms.
    It is set up to look and behave as the list did: no headers, no grid, whole rows selected one at a time,
    Tab leaves the list, Home/End go to the first/last chat, a wheel step is a row.
    """

    type_to_search = Signal(str)  # letters typed while the list has focus

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.horizontalHeader().hide()
        self.horizontalHeader().setStretchLastSection(True)  # the one column is as wide as the view
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never asks the delegate for a size
        rows.setMinimumSectionSize(1)
        rows.setDefaultSectionSize(ROW_HEIGHT)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(ROW_HEIGHT)  # set once, the view keeps it (as QListView's)
        self.verticalScrollBar().valueChanged.connect(lambda _v: gc_guard.scrolled())

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 - Qt's own name
        # Qt's type-ahead asks the model for every row (100,000 calls into Python, a frozen window): the
        # letters go to the search box instead, which filters in SQLite off the GUI thread.
        self.type_to_search.emit(search)

    def moveCursor(self, action: QAbstractItemView.CursorAction,  # noqa: N802 - Qt's own name
                   modifiers: Qt.KeyboardModifier) -> QModelIndex:
        if action in (QAbstractItemView.CursorAction.MoveHome, QAbstractItemView.CursorAction.MoveEnd):
            modifiers |= Qt.KeyboardModifier.ControlModifier  # a table's Home/End stay in the row
        return super().moveCursor(action, modifiers)

    def dataChanged(self, topLeft: Index, bottomRight: Index, roles: Any = ()) -> None:  # noqa: N802, N803
        if topLeft == bottomRight:
            super().dataChanged(topLeft, bottomRight, list(roles))  # repaints that row
        else:
            # A page (200 rows) or every row after a reload: the rows on screen are all that can show it.
            self.viewport().update()


_WHITE, _SELECTED_BG, _HOVER_BG = QColor("white"), QColor("#f0f2f5"), QColor("#f5f6f6")
_INK, _MUTED, _GREEN = QColor("#111b21"), QColor("#667781"), QColor("#1fa855")
_GREEN_BADGE, _RED_BADGE = QColor("#25d366"), QColor("#ea0038")
_SEPARATOR = QPen(QColor("#e9edef"), 1)
_CENTER = Qt.AlignmentFlag.AlignCenter
_ELIDE_RIGHT = Qt.TextElideMode.ElideRight
_NO_PEN = Qt.PenStyle.NoPen
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_SELECTED, _HOVERED = QStyle.StateFlag.State_Selected, QStyle.StateFlag.State_MouseOver


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
        # Built once, not in every row's paint: a row rebuilt three font metrics, six colours and two pens, and
        # PySide builds an alignment flag anew each time it is or-ed.
        self.small_metrics = QFontMetrics(self.small_font)
        self.name_metrics = QFontMetrics(self.name_font)
        self.badge_metrics = QFontMetrics(self.badge_font)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(300, ROW_HEIGHT)

    def _paint_placeholder(self, painter: QPainter, r: QRect) -> None:
        """A light skeleton while the row's page is read: grey avatar and two grey bars."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(r, QColor("white"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#eceff1"))
        size = 48
        avatar = QRect(r.left() + 12, r.top() + (r.height() - size) // 2, size, size)
        painter.drawEllipse(avatar)
        left = avatar.right() + 14
        width = max(0, r.right() - 14 - left)
        painter.drawRoundedRect(QRect(left, r.top() + 18, width * 2 // 5, 12), 6, 6)
        painter.drawRoundedRect(QRect(left, r.top() + 43, width * 3 // 4, 10), 5, 5)
        painter.setPen(QPen(QColor("#e9edef"), 1))
        painter.drawLine(left, r.bottom(), r.right(), r.bottom())
        painter.restore()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        chat: ChatSummary | None = index.data(SummaryRole)
        if chat is None:
            self._paint_placeholder(painter, option.rect)
            return
        r = option.rect
        painter.save()
        painter.setRenderHint(_ANTIALIAS)
        selected = bool(option.state & _SELECTED)
        hovered = bool(option.state & _HOVERED)
        painter.fillRect(r, _SELECTED_BG if selected else _HOVER_BG if hovered else _WHITE)

        # avatar
        size = 48
        avatar = QRect(r.left() + 12, r.top() + (r.height() - size) // 2, size, size)
        painter.setPen(_NO_PEN)
        painter.setBrush(avatar_color(chat.wa_id))
        painter.drawEllipse(avatar)
        painter.setPen(_WHITE)
        painter.setFont(self.avatar_font)
        painter.drawText(avatar, _CENTER, initials(chat.name, chat.wa_id))

        left = avatar.right() + 14
        right = r.right() - 14
        # separator like WhatsApp: starts after the avatar
        painter.setPen(_SEPARATOR)
        painter.drawLine(left, r.bottom(), r.right(), r.bottom())

        # first line: name ... time, each at a point on the line's baseline (no text formatting per cell)
        when = list_time(chat.last_at)
        fm_small, fm_name = self.small_metrics, self.name_metrics
        time_w = fm_small.horizontalAdvance(when)
        top1 = r.top() + 13
        painter.setFont(self.small_font)
        painter.setPen(_GREEN if chat.unread else _MUTED)
        painter.drawText(right - time_w, baseline(fm_small, top1, 22), when)
        painter.setFont(self.name_font)
        painter.setPen(_INK)
        name = chat.name or phone(chat.wa_id)
        name = fm_name.elidedText(name, _ELIDE_RIGHT, right - left - time_w - 10)
        painter.drawText(left, baseline(fm_name, top1, 22), name)

        # second line: preview ... badges (failed media in red, unread in green)
        top2 = r.top() + 38
        badges_w = 0
        painter.setFont(self.badge_font)
        for count, color in ((chat.unread, _GREEN_BADGE), (chat.failed_media, _RED_BADGE)):
            if not count:
                continue
            text = str(count) if count < 1000 else "999+"
            w = max(20, self.badge_metrics.horizontalAdvance(text) + 12)
            badge = QRect(right - badges_w - w, top2 + 1, w, 20)
            painter.setPen(_NO_PEN)
            painter.setBrush(color)
            painter.drawRoundedRect(badge, 10, 10)
            painter.setPen(_WHITE)
            painter.drawText(badge, _CENTER, text)
            badges_w += w + 6
        painter.setFont(self.small_font)
        painter.setPen(_MUTED)
        text = preview(chat.last_type, chat.last_preview).replace("\n", " ")
        text = fm_small.elidedText(text, _ELIDE_RIGHT, right - left - badges_w - 4)
        painter.drawText(left, baseline(fm_small, top2, 22), text)
        painter.restore()
