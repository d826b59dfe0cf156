"""View > Media: every media of every chat in one table, filtered by the engine, with bulk actions.

The filter bar builds a `MediaFilter` (type, status, failure reason, contact, date range, file name); the
model asks the engine for the count and pages in SQL. On a selection: Retry, Save to folder (off the GUI
thread, with a progress bar and Cancel), Open, Show in chat (the window selects the chat and scrolls to
the message), Delete (confirmed; the engine keeps every file another media shares, and the message).
Actions work on the selected rows whose page is loaded: what the user can see is what they select.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, QRect, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QFont, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console import gc_guard
from console.bridge import EngineBridge
from console.chat_export import copy_media_link
from console.media_model import COLUMNS, FILE, SIZE, STATUS, MediaListModel, RowRole
from console.progress import Cancelled, TaskProgress
from console.row_paint import baseline, remembered
from console.tasks import run_task
from console.thumbnails import ThumbnailCache
from engine import FailureReason, MediaFilter, MediaItem, MediaStatus, MediaStatusChanged

log = logging.getLogger(__name__)
ROW_HEIGHT = 48
THUMB = 40
KINDS = (("All types", ()), ("Photos", ("image",)), ("Videos", ("video",)), ("Audio", ("audio",)),
         ("Documents", ("document",)), ("Stickers", ("sticker",)))
STATUSES = (("Any status", None), ("Saved", "completed"), ("Failed", "failed"), ("Waiting", "pending"),
            ("Downloading", "processing"))
KIND_COLORS = {"image": "#53bdeb", "video": "#a17fe0", "audio": "#ff7a59", "document": "#5f66cd",
               "sticker": "#ffbc38"}
KIND_GLYPHS = {"image": "IMG", "video": "VID", "audio": "AUD", "document": "DOC", "sticker": "STK"}


def thumbnail_source(item: MediaItem) -> str | None:
    """What the delegate shows: the engine's stored thumbnail; for an older photo without one, the photo."""
    if item.thumbnail:
        return item.thumbnail
    if item.status == "completed" and item.kind in ("image", "sticker"):
        return item.path
    return None


# Qt's flags are Python enums: combining or looking them up in every row's paint was a tenth of the paint.
_CENTER = Qt.AlignmentFlag.AlignCenter
_ELIDE_RIGHT, _ELIDE_MIDDLE = Qt.TextElideMode.ElideRight, Qt.TextElideMode.ElideMiddle
_SELECTED = QStyle.StateFlag.State_Selected
_NO_PEN = Qt.PenStyle.NoPen
_SMOOTH, _ANTIALIAS = QPainter.RenderHint.SmoothPixmapTransform, QPainter.RenderHint.Antialiasing
ROW_BACKGROUND = "white"
ELIDED_CACHE = 20_000  # (text, width) -> elided text; the same words come back frame after frame while scrolling


class MediaDelegate(QStyledItemDelegate):
    """Paints a whole row in one call: thumbnail or type badge and name, then the other columns where `header`
    has them. One call a row, not one a cell: at 7 columns the per-cell calls into Python were most of a frame."""

    def __init__(self, thumbnails: ThumbnailCache, header: QHeaderView | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.header = header
        self.scrolling = False  # set by the view while its scroll bar moves
        self.badge_font = QFont()
        self.badge_font.setPointSizeF(max(6.0, self.badge_font.pointSizeF() - 2))
        self.badge_font.setBold(True)
        self._white, self._placeholder = QColor(ROW_BACKGROUND), QColor("#eceff1")
        self._text, self._muted, self._red = QColor("#111b21"), QColor("#3b4a54"), QColor("#ea0038")
        self._line = QColor("#f0f2f5")
        self._layout: list[tuple[int, int, int]] | None = None  # the header's columns, until it changes
        self._elided: dict[tuple[str, int, bool], str] = {}
        self._widths: dict[str, int] = {}  # the width of each size's words, for right alignment
        self._blank: tuple[tuple[int, int, float, tuple[tuple[int, int, int], ...]], QPixmap] | None = None
        if header is not None:
            for signal in (header.sectionResized, header.sectionMoved, header.geometriesChanged,
                           header.sectionCountChanged):
                signal.connect(self.columns_changed)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(600, ROW_HEIGHT)

    def columns_changed(self, *_args: Any) -> None:
        """The header moved or resized a column: work its layout out again at the next paint."""
        self._layout = None

    def _columns(self, r: QRect) -> list[tuple[int, int, int]]:
        """(column, left, width) of each column shown, from the header (or the whole row for the file alone)."""
        if self.header is None:
            return [(FILE, r.left(), r.width())]
        if self._layout is None:
            h = self.header
            # 21 calls into Qt a row, the same answers for every row until the header changes.
            self._layout = [(c, h.sectionViewportPosition(c), h.sectionSize(c)) for c in range(len(COLUMNS))
                            if not h.isSectionHidden(c)]
        left = r.left()
        return [(c, left + x, w) for c, x, w in self._layout] if left else self._layout

    def _elide(self, metrics: Any, text: str, width: int, middle: bool = False) -> str:
        # The key holds a bool, not the mode: hashing a Python enum costs more than the lookup saves.
        return remembered(self._elided, (text, width, middle),
                          lambda: metrics.elidedText(text, _ELIDE_MIDDLE if middle else _ELIDE_RIGHT, width),
                          limit=ELIDED_CACHE)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model = index.model()
        row = model.row_data(index.row()) if isinstance(model, MediaListModel) else index.data(RowRole)
        r = option.rect
        columns = self._columns(r)
        if row is None:  # its page is being read: grey bars, no text
            painter.drawPixmap(r.topLeft(), self._placeholder_row(painter, r, columns))
            return
        painter.save()
        item, texts = row
        selected = bool(option.state & _SELECTED)
        if selected:  # other rows lie on the table's own base, the same white (MediaTable): one fill, not 30
            painter.fillRect(r, option.palette.highlight())
        painter.setPen(self._line)
        painter.drawLine(r.left(), r.bottom(), r.right(), r.bottom())
        metrics = option.fontMetrics
        top, height = r.top(), r.height()
        line = baseline(metrics, top, height)  # every cell's text sits on it (console.row_paint)
        pen = option.palette.highlightedText().color() if selected else self._muted
        failed = item.status == "failed" and not selected
        for column, left, width in columns:
            if column == FILE:
                self._paint_file(painter, option, item, texts[FILE], QRect(left, top, width, height), selected,
                                 line)
                continue
            painter.setPen(self._red if failed and column == STATUS else pen)
            text = self._elide(metrics, texts[column], width - 12)
            x = left + width - 6 - self._advance(metrics, text) if column == SIZE else left + 6
            painter.drawText(x, line, text)
        painter.restore()

    def _advance(self, metrics: Any, text: str) -> int:
        return remembered(self._widths, text, lambda: metrics.horizontalAdvance(text), limit=ELIDED_CACHE)

    def _placeholder_row(self, painter: QPainter, r: QRect, columns: list[tuple[int, int, int]]) -> QPixmap:
        """A row whose page is being read, drawn once per layout: a fast scroll paints mostly these."""
        dpr = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        key = (r.width(), r.height(), dpr, tuple((c, x - r.left(), w) for c, x, w in columns))
        if self._blank is not None and self._blank[0] == key:
            return self._blank[1]
        pixmap = QPixmap(int(r.width() * dpr), int(r.height() * dpr))
        pixmap.setDevicePixelRatio(dpr)
        pixmap.fill(self._white)
        p = QPainter(pixmap)
        p.setPen(_NO_PEN)
        p.setBrush(self._placeholder)
        p.drawRoundedRect(QRect(6, 4, THUMB, THUMB), 4, 4)
        middle = r.height() // 2 - 5
        for column, left, width in key[3]:
            x = left + (54 if column == FILE else 6)
            p.drawRoundedRect(QRect(x, middle, max(0, width // 2 - 10), 10), 5, 5)
        p.end()
        self._blank = (key, pixmap)
        return pixmap

    def _paint_file(self, painter: QPainter, option: QStyleOptionViewItem, item: MediaItem, name: str, r: QRect,
                    selected: bool, line: int) -> None:
        box = QRect(r.left() + 6, r.top() + (r.height() - THUMB) // 2, THUMB, THUMB)
        source = thumbnail_source(item)
        pixmap = None
        if source:
            # While the table scrolls past, only what is decoded already: loads start once it rests.
            pixmap = (self.thumbnails.peek(item.media_id) if self.scrolling
                      else self.thumbnails.get(item.media_id, source, item.location))
        if pixmap is not None:
            # The middle square of the picture (decoded at twice this size), scaled as it is drawn.
            side = min(pixmap.width(), pixmap.height())
            src = QRect((pixmap.width() - side) // 2, (pixmap.height() - side) // 2, side, side)
            painter.setRenderHint(_SMOOTH)
            painter.drawPixmap(box, pixmap, src)
        else:
            painter.setRenderHint(_ANTIALIAS)
            painter.setPen(_NO_PEN)
            color = QColor(KIND_COLORS.get(item.kind, "#8696a0"))
            if item.status != "completed":
                color.setAlpha(110)
            painter.setBrush(color)
            painter.drawRoundedRect(box, 6, 6)
            painter.setPen(self._white)
            painter.setFont(self.badge_font)
            painter.drawText(box, _CENTER, KIND_GLYPHS.get(item.kind, "FILE"))
            painter.setFont(option.font)
        painter.setPen(option.palette.highlightedText().color() if selected else self._text)
        left = box.right() + 10
        text = self._elide(option.fontMetrics, name, r.right() - box.right() - 14, middle=True)
        painter.drawText(left, line, text)


class MediaTable(QTableView):
    """Fixed-height rows sized from the count alone (as the chat list): a reset at 100,000 media costs ~1 ms."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setMinimumSectionSize(1)
        rows.setDefaultSectionSize(ROW_HEIGHT)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(ROW_HEIGHT)
        self.setAlternatingRowColors(False)
        self.horizontalHeader().hide()  # the view's own header shows the columns the delegate paints
        self.horizontalHeader().setStretchLastSection(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, QColor(ROW_BACKGROUND))  # what the delegate's rows lie on
        self.setPalette(palette)

    def setModel(self, model: Any) -> None:  # noqa: N802 - Qt's own name
        super().setModel(model)
        model.modelReset.connect(self._one_column)  # a reset forgets which sections were hidden
        self._one_column()

    def _one_column(self) -> None:
        for column in range(1, self.model().columnCount()):
            self.setColumnHidden(column, True)  # painted inside column 0's row by the delegate

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 - Qt's own name
        pass  # Qt's type-ahead would ask the model for every row: the file-name box filters instead

    def dataChanged(self, topLeft: Any, bottomRight: Any, roles: Any = ()) -> None:  # noqa: N802, N803
        if topLeft.row() == bottomRight.row():
            super().dataChanged(topLeft, bottomRight, list(roles))
        else:
            self.viewport().update()  # a page or a reload: only the rows on screen can show it


class MediaView(QWidget):
    show_in_chat = Signal(object)  # the MediaItem whose message the window should show
    saved = Signal(list, list)  # files written, media without a file (tests, the status line)
    deleted = Signal(list)
    retried = Signal(int)

    def __init__(self, engine: Any, bridge: EngineBridge, thumbnails: ThumbnailCache | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mediaView")
        self.engine = engine
        self.bridge = bridge
        self.model = MediaListModel(engine, self)
        self.thumbnails = thumbnails or ThumbnailCache(
            lambda path, location: engine.storage_for(location).read_bytes(path), box=QSize(2 * THUMB, 2 * THUMB),
            capacity=600, parent=self)
        self._filter_timer = QTimer(self, singleShot=True, interval=250)
        self._filter_timer.timeout.connect(self.apply_filter)
        self._reload_timer = QTimer(self, singleShot=True, interval=500)  # a burst of downloads: one reload
        self._reload_timer.timeout.connect(self.model.reload)

        col = QVBoxLayout(self)
        col.setContentsMargins(12, 10, 12, 8)
        col.setSpacing(8)
        title = QLabel("Media", self)
        title.setObjectName("panelTitle")
        col.addWidget(title)
        col.addLayout(self._build_filters())
        # The table shows one column that its delegate paints whole; this header, over the same model, shows
        # the column names and holds their widths (drag to resize), which the delegate paints by.
        self.header = QHeaderView(Qt.Orientation.Horizontal, self)
        self.header.setModel(self.model)
        self.header.setSectionsClickable(False)
        self.header.setStretchLastSection(False)
        for column, width in enumerate((320, 90, 80, 100, 270, 160, 140)):
            self.header.resizeSection(column, width)
        self.header.setSectionResizeMode(FILE, QHeaderView.ResizeMode.Stretch)
        self.header.sectionResized.connect(lambda *_: self.table.viewport().update())
        self.header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.header.setFixedHeight(28)
        over_table = QHBoxLayout()
        over_table.setContentsMargins(1, 0, self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + 1, 0)
        over_table.addWidget(self.header)  # as wide as the table's rows: its scroll bar is beside them, not under
        grid = QVBoxLayout()
        grid.setSpacing(0)
        grid.addLayout(over_table)
        col.addLayout(grid, 1)
        self.table = MediaTable(self)
        self.table.setModel(self.model)
        self.table.setItemDelegate(MediaDelegate(self.thumbnails, self.header, self.table))
        self._rest_timer = QTimer(self, singleShot=True, interval=120)  # the scroll bar rested: load thumbnails
        self._rest_timer.timeout.connect(self._scroll_rested)
        self.table.verticalScrollBar().valueChanged.connect(self._scrolled)
        grid.addWidget(self.table, 1)
        col.addLayout(self._build_actions())

        self.model.loaded.connect(self._update_count)
        self.model.load_failed.connect(bridge.warning)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.table.doubleClicked.connect(lambda _i: self.open_selected())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(
            lambda pos: self.context_menu().exec(self.table.viewport().mapToGlobal(pos)))
        self.thumbnails.changed.connect(lambda _mid: self.table.viewport().update())
        bridge.media_status_changed.connect(self.on_media_status)
        self._update_actions()

    # -- building
    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.kind_box = QComboBox(self)
        for text, kinds in KINDS:
            self.kind_box.addItem(text, kinds)
        self.status_box = QComboBox(self)
        for text, status in STATUSES:
            self.status_box.addItem(text, status)
        self.reason_box = QComboBox(self)
        self.reason_box.setMaximumWidth(240)
        self.reason_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reason_box.setMinimumContentsLength(18)
        self.reason_box.addItem("Any reason", None)
        for reason in FailureReason:
            if not reason.is_generic:
                self.reason_box.addItem(reason.text, str(reason))
        self.contact_box = QLineEdit(self)
        self.contact_box.setPlaceholderText("Contact name or number")
        self.contact_box.setClearButtonEnabled(True)
        self.name_box = QLineEdit(self)
        self.name_box.setPlaceholderText("File name")
        self.name_box.setClearButtonEnabled(True)
        self.dates_box = QCheckBox("From", self)
        today = QDate.currentDate()
        self.since_box = QDateEdit(today.addDays(-30), self)
        self.until_box = QDateEdit(today, self)
        for d in (self.since_box, self.until_box):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.dates_box.toggled.connect(self.since_box.setEnabled)
        self.dates_box.toggled.connect(self.until_box.setEnabled)
        for combo in (self.kind_box, self.status_box, self.reason_box):
            combo.currentIndexChanged.connect(lambda _i: self._filter_timer.start())
        for edit in (self.contact_box, self.name_box):
            edit.textChanged.connect(lambda _t: self._filter_timer.start())
        for d in (self.since_box, self.until_box):
            d.dateChanged.connect(lambda _d: self._filter_timer.start())
        self.dates_box.toggled.connect(lambda _c: self._filter_timer.start())
        row.addWidget(self.kind_box)
        row.addWidget(self.status_box)
        row.addWidget(self.reason_box)
        row.addWidget(self.contact_box, 1)
        row.addWidget(self.name_box, 1)
        row.addWidget(self.dates_box)
        row.addWidget(self.since_box)
        row.addWidget(QLabel("to", self))
        row.addWidget(self.until_box)
        return row

    def _build_actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("mediaCount")
        self.retry_button = QPushButton("Retry", self)
        self.save_button = QPushButton("Save to folder…", self)
        self.open_button = QPushButton("Open", self)
        self.chat_button = QPushButton("Show in chat", self)
        self.delete_button = QPushButton("Delete…", self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.hide()
        self.progress = TaskProgress(self.progress_bar, self)
        self.retry_button.clicked.connect(self.retry_selected)
        self.save_button.clicked.connect(self._ask_folder)
        self.open_button.clicked.connect(self.open_selected)
        self.chat_button.clicked.connect(self.show_selected_in_chat)
        self.delete_button.clicked.connect(self._confirm_delete)
        self.cancel_button.clicked.connect(self.progress.cancel)
        row.addWidget(self.count_label, 1)
        row.addWidget(self.progress_bar)
        row.addWidget(self.cancel_button)
        for b in (self.retry_button, self.save_button, self.open_button, self.chat_button, self.delete_button):
            row.addWidget(b)
        return row

    def _scrolled(self, _value: int) -> None:
        gc_guard.scrolled()
        self.table.itemDelegate().scrolling = True
        self._rest_timer.start()

    def _scroll_rested(self) -> None:
        self.table.itemDelegate().scrolling = False
        self.table.viewport().update()

    # -- filters
    def current_filter(self) -> MediaFilter:
        since = until = None
        if self.dates_box.isChecked():
            # The owner picks local days; rows store naive UTC.
            start = datetime.combine(self.since_box.date().toPython(), time()).astimezone()
            end = datetime.combine(self.until_box.date().addDays(1).toPython(), time()).astimezone()
            since, until = (t.astimezone(UTC).replace(tzinfo=None) for t in (start, end))
        return MediaFilter(kinds=tuple(self.kind_box.currentData() or ()), status=self.status_box.currentData(),
                           reason=self.reason_box.currentData(), contact=self.contact_box.text().strip() or None,
                           since=since, until=until, name=self.name_box.text().strip() or None)

    def apply_filter(self) -> None:
        self.model.set_filter(self.current_filter())

    def refresh(self) -> None:
        """The view is shown: count again (the window calls this on View > Media)."""
        self.model.reload()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(f"{n:,} media" if n != 1 else "1 media")
        self._update_actions()

    # -- selection
    def selected_items(self) -> list[MediaItem]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [item for item in (self.model.item(r) for r in rows) if item is not None]

    def _update_actions(self) -> None:
        items = self.selected_items()
        busy = self.progress_bar.isVisible()
        self.retry_button.setEnabled(any(i.status in ("failed", "pending") for i in items))
        self.save_button.setEnabled(not busy and any(i.status == "completed" for i in items))
        self.open_button.setEnabled(len(items) == 1 and items[0].status == "completed")
        self.chat_button.setEnabled(len(items) == 1 and items[0].contact_id is not None)
        self.delete_button.setEnabled(not busy and bool(items))

    def on_media_status(self, event: MediaStatusChanged) -> None:
        if event.status == MediaStatus.PENDING:
            self.thumbnails.forget(event.media_id)
        if event.status in (MediaStatus.COMPLETED, MediaStatus.FAILED, MediaStatus.PENDING) and self.isVisible():
            self._reload_timer.start()

    # -- actions
    def retry_selected(self) -> None:
        ids = [i.media_id for i in self.selected_items() if i.status in ("failed", "pending")]
        if not ids:
            return
        engine = self.engine

        def done(n: int) -> None:
            self.bridge.info(f"Downloading {n} media again…")
            self.model.reload()
            self.retried.emit(n)

        run_task(lambda: engine.retry_media(ids), done, lambda exc: self.bridge.warning(f"Retry failed: {exc}"))

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save media to folder")
        if folder:
            self.save_to(Path(folder))

    def save_to(self, folder: Path) -> None:
        """Copy the selected media's files into `folder`, off the GUI thread, with the progress bar and Cancel."""
        ids = [i.media_id for i in self.selected_items() if i.status == "completed"]
        if not ids:
            return
        library, progress = self.engine.library, self.progress
        progress.start(len(ids))
        self.cancel_button.show()
        self._update_actions()
        run_task(lambda: library.save_media(ids, folder=folder, progress=progress.report),
                 lambda result: self._saved(folder, *result), self._save_failed)

    def _saved(self, folder: Path, written: list[Path], missing: list[int]) -> None:
        self._end_progress()
        gaps = f"; {len(missing)} had no stored file" if missing else ""
        self.bridge.info(f"Saved {len(written)} files to {folder}{gaps}.")
        self.saved.emit(written, missing)

    def _save_failed(self, exc: BaseException) -> None:
        self._end_progress()
        if isinstance(exc, Cancelled):
            self.bridge.info("Saving cancelled; the files saved so far stay in the folder.")
        else:
            self.bridge.warning(f"Could not save the files: {exc}")
        self.saved.emit([], [])

    def _end_progress(self) -> None:
        self.progress.finish()
        self.cancel_button.hide()
        self._update_actions()

    def open_selected(self) -> None:
        items = [i for i in self.selected_items() if i.status == "completed" and i.path]
        if len(items) != 1:
            return
        item = items[0]
        storage = self.engine.storage_for(item.location)
        local = storage.local_path(item.path)
        if local is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(local)))
            return

        def fetch() -> Path:  # S3: a temporary copy for the system's viewer
            with tempfile.NamedTemporaryFile(prefix="mediadesk-", suffix=Path(item.name or "").suffix,
                                             delete=False) as fh:
                fh.write(storage.read_bytes(item.path))
                return Path(fh.name)

        run_task(fetch, lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))),
                 lambda exc: self.bridge.warning(f"Could not fetch the file: {exc}"))

    def context_menu(self) -> QMenu:
        """The selection's actions; Copy link where the one media selected is stored on S3."""
        menu = QMenu(self)
        for button in (self.retry_button, self.save_button, self.open_button, self.chat_button):
            menu.addAction(button.text(), button.click).setEnabled(button.isEnabled())
        items = self.selected_items()
        link = menu.addAction("Copy link", lambda: copy_media_link(self.engine, self.bridge, items[0].media_id))
        link.setEnabled(len(items) == 1 and items[0].status == "completed" and items[0].location != "local")
        menu.addSeparator()
        menu.addAction(self.delete_button.text(), self.delete_button.click).setEnabled(self.delete_button.isEnabled())
        return menu

    def show_selected_in_chat(self) -> None:
        items = self.selected_items()
        if len(items) == 1 and items[0].contact_id is not None:
            self.show_in_chat.emit(items[0])

    def _confirm_delete(self) -> None:
        items = self.selected_items()
        if not items:
            return
        n = len(items)
        answer = QMessageBox.question(
            self, "Delete media",
            f"Delete the stored file{'s' if n > 1 else ''} of {n} media?\n\nThe messages stay in their chats. "
            "A file another message shares stays for it. Retry fetches a file again while WhatsApp still has it.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(items)

    def delete(self, items: list[MediaItem]) -> None:
        ids = [i.media_id for i in items]
        library = self.engine.library

        def done(removed: list[int]) -> None:
            for mid in removed:
                self.thumbnails.forget(mid)
            skipped = len(ids) - len(removed)
            note = f"; {skipped} still downloading were left alone" if skipped else ""
            self.bridge.info(f"Deleted {len(removed)} media files{note}.")
            self.model.reload()
            self.deleted.emit(removed)

        run_task(lambda: library.delete_media(ids), done,
                 lambda exc: self.bridge.warning(f"Could not delete: {exc}"))
