"""The Media view's model: every media of every chat, a virtual table over the engine library's count and pages.

As the chat list: a reload counts the media matching the filter off the GUI thread and sizes the table at
once; rows whose page has not arrived are placeholders, and painting one asks for its page (one read at a
time, the newest wish first, an LRU of pages). Filtering is the engine's, in SQL: another filter is a new
count and a reset. The model holds `MediaItem`s only; thumbnails are the delegate's cache.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from functools import partial
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal

from console.tasks import run_task
from console.wording import KIND_LABELS, human_size, local_time, phone, reason_text
from engine import MediaFilter, MediaItem

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex
ItemRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2  # (MediaItem, every column's text): what the delegate paints a row from
PAGE = 200
CACHE_PAGES = 200
IN_FLIGHT = 1  # a second read at once takes the GUI thread's core on a 2-core machine
WANTED = 4
HOT_PAGES = 3
COLUMNS = ("File", "Type", "Size", "Status", "Reason", "Contact", "Date")
FILE, TYPE, SIZE, STATUS, REASON, CONTACT, DATE = range(len(COLUMNS))
STATUS_WORDS = {"pending": "Waiting", "processing": "Downloading", "completed": "Saved", "failed": "Failed"}


def cell_text(item: MediaItem, column: int) -> str:
    """What a cell says, in the owner's words."""
    if column == FILE:
        return item.name or f"{KIND_LABELS.get(item.kind, item.kind)} {item.media_id}"
    if column == TYPE:
        return KIND_LABELS.get(item.kind, item.kind)
    if column == SIZE:
        return human_size(item.size)
    if column == STATUS:
        return STATUS_WORDS.get(item.status, item.status)
    if column == REASON:
        return reason_text(item.reason, item.error) if item.status == "failed" else ""
    if column == CONTACT:
        return item.contact_name or (phone(item.wa_id) if item.wa_id else "")
    if column == DATE:
        t = local_time(item.at)
        # Not strftime: it imports `time` on every call, through PySide's import hook (~9 us a row, GIL held).
        return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}" if t else ""
    return ""


Row = tuple[MediaItem, tuple[str, ...]]
RELEASE_CHUNK = 4  # pages let go between GIL hand-offs: ~0.7 ms of deallocation each time


def _release(pages: OrderedDict[int, list[Row]]) -> None:
    """Let go of a cache of pages a few at a time, on a pool thread.

    40,000 rows freed in one go on the GUI thread were a 35 ms frame (every reset with a full cache). Here
    the deallocation is split into chunks with a GIL release between them, so the GUI thread never waits
    for more than one chunk. The rows hold plain Python values only (no Qt wrapper), so any thread may free them.
    """
    while pages:
        for _ in range(min(RELEASE_CHUNK, len(pages))):
            pages.popitem(last=False)
        time.sleep(0)


def rows_of(items: list[MediaItem]) -> list[Row]:
    """Each media with its cells' words, worked out on the pool thread with the page, not in every paint."""
    return [(item, tuple(cell_text(item, c) for c in range(len(COLUMNS)))) for item in items]


class MediaListModel(QAbstractTableModel):
    """Thin adapter over `Library.media_pages` / `media_page` for one `MediaFilter`."""

    loaded = Signal()  # a reload or a page arrived (tests and the view's status line wait on it)
    load_failed = Signal(str)

    def __init__(self, engine: Any, parent: Any = None, *, cache_pages: int = CACHE_PAGES) -> None:
        super().__init__(parent)
        self.engine = engine
        self._count = 0
        self._filter = MediaFilter()
        self._pages: OrderedDict[int, list[Row]] = OrderedDict()
        # page -> its last media id, kept after the page leaves the cache: the next page is read from there
        # with an index seek (a scroll to the end reads each page so) instead of an OFFSET walk.
        self._ends: dict[int, int] = {}
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[int] = set()
        self._failed_pages: set[int] = set()
        self._cache_pages = cache_pages
        self._reloading = False
        self._generation = 0  # late pages of an older filter are dropped
        self._request_timer = QTimer(self, singleShot=True, interval=0)
        self._request_timer.timeout.connect(self._request_pages)

    @property
    def loading(self) -> bool:
        return self._reloading or bool(self._in_flight)

    @property
    def media_filter(self) -> MediaFilter:
        return self._filter

    # -- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(COLUMNS)):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if not index.isValid() or not 0 <= row < self._count:
            return None
        found = self._row(row)
        if found is None:
            return None
        if role == RowRole:
            return found
        item, texts = found
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return texts[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and item.status == "failed":
            return item.error or reason_text(item.reason)
        return None

    def _row(self, row: int) -> Row | None:
        page, offset = divmod(row, PAGE)
        rows = self._pages.get(page)
        if rows is None:
            self._want(page)
            return None
        self._pages.move_to_end(page)
        return rows[offset] if offset < len(rows) else None

    def row_data(self, row: int) -> Row | None:
        """`data(index, RowRole)` without the trip through Qt (the delegate asks for every row it paints)."""
        return self._row(row) if 0 <= row < self._count else None

    def item(self, row: int) -> MediaItem | None:
        """The media at `row` if its page is loaded (never schedules a read)."""
        rows = self._pages.get(row // PAGE) if 0 <= row < self._count else None
        return rows[row % PAGE][0] if rows is not None and row % PAGE < len(rows) else None

    # -- pages
    def _want(self, page: int) -> None:
        if page in self._in_flight or page in self._failed_pages:
            return
        self._wanted[page] = None
        self._wanted.move_to_end(page)
        while len(self._wanted) > WANTED:
            self._wanted.popitem(last=False)
        if not self._request_timer.isActive():
            self._request_timer.start()

    def _request_pages(self) -> None:
        while self._wanted and len(self._in_flight) < IN_FLIGHT:
            page, _ = self._wanted.popitem(last=True)
            if page in self._pages or page * PAGE >= self._count:
                continue
            self._read_page(page)

    def _read_page(self, page: int) -> None:
        self._in_flight.add(page)
        generation, f, library = self._generation, self._filter, self.engine.library
        below = self._ends.get(page - 1)
        run_task(lambda: rows_of(library.media_page(f, limit=PAGE, offset=page * PAGE, below_id=below)),
                 lambda rows: self._page_arrived(generation, page, rows),
                 lambda exc: self._page_failed(generation, page, exc))

    def _page_arrived(self, generation: int, page: int, rows: list[Row]) -> None:
        if generation != self._generation:
            return
        self._in_flight.discard(page)
        self._store(page, rows)
        first, last = page * PAGE, min(self._count, (page + 1) * PAGE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self.loaded.emit()
        self._request_pages()

    def _page_failed(self, generation: int, page: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._in_flight.discard(page)
        self._failed_pages.add(page)
        self._failed(exc)
        self._request_pages()

    def _store(self, page: int, rows: list[Row]) -> None:
        if len(rows) == PAGE:
            self._ends[page] = rows[-1][0].media_id
        self._pages[page] = rows
        self._pages.move_to_end(page)
        while len(self._pages) > self._cache_pages:
            self._pages.popitem(last=False)

    # -- loading
    def reload(self) -> None:
        """Count again and re-read the pages on screen (media changed: a download ended, a delete)."""
        self._start_reload(list(self._pages)[-HOT_PAGES:] or [0], reset=False)

    def set_filter(self, f: MediaFilter) -> None:
        if f == self._filter:
            return
        self._filter = f
        self._start_reload([0], reset=True)

    def _start_reload(self, hot: list[int], *, reset: bool) -> None:
        self._generation += 1
        self._in_flight.clear()
        self._wanted.clear()
        self._reloading = True
        generation, f, library = self._generation, self._filter, self.engine.library
        def work() -> tuple[int, dict[int, list[Row]]]:
            count, pages = library.media_pages(hot, page_size=PAGE, f=f)
            return count, {p: rows_of(items) for p, items in pages.items()}

        run_task(work, lambda result: self._reloaded(generation, *result, reset=reset), self._reload_failed)

    def _reloaded(self, generation: int, count: int, pages: dict[int, list[Row]], *, reset: bool) -> None:
        if generation != self._generation:
            return
        self._reloading = False
        self._failed_pages.clear()
        stale = self._pages
        self._ends = {}  # where pages ended before this count: media may have come or gone since
        if reset or count != self._count:
            # Another filter, or media came or went: rows are newest first, so every row may hold another media.
            self.beginResetModel()
            self._count = count
            self._pages = OrderedDict()
            for page, rows in pages.items():
                self._store(page, rows)
            self.endResetModel()
        else:
            self._pages = OrderedDict()  # other pages are stale: read again when painted
            for page, rows in pages.items():
                self._store(page, rows)
            if count:
                self.dataChanged.emit(self.index(0, 0), self.index(count - 1, len(COLUMNS) - 1))
        if stale:
            run_task(partial(_release, stale))
        self.loaded.emit()

    def _reload_failed(self, exc: BaseException) -> None:
        self._reloading = False
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        log.warning("could not load the media list: %s", exc)
        self.load_failed.emit(f"Could not load the media list: {exc}")
