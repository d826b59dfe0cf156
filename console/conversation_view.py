"""The conversation's list view: starts at the newest message, pages older ones in at the top,
keeps the reader's place, and animates spinners only while a visible media is still downloading."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QContextMenuEvent, QMouseEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QMenu

from console.bubbles import MessageDelegate
from console.conversation import MessageListModel


class ConversationView(QListView):
    copy_link = Signal(int)  # media id: the bubble's "Copy link" (media stored on S3)

    def __init__(self, model: MessageListModel, delegate: MessageDelegate, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation")
        self.setModel(model)
        self.setItemDelegate(delegate)
        delegate.setParent(self)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setStyleSheet("QListView#conversation { background: #efeae2; border: none; }")
        self._model = model
        self._delegate = delegate
        self._stick_to_bottom = True
        model.loaded.connect(self._scroll_to_end_soon)
        model.appended.connect(self._on_appended)
        model.rowsAboutToBeInserted.connect(self._remember_position)
        model.older_loaded.connect(self._restore_position)
        self.verticalScrollBar().valueChanged.connect(self._on_scroll)
        delegate.thumbnails.changed.connect(self._thumbnail_changed)
        self._anchor: tuple[int, int] | None = None
        self._spin = QTimer(self, interval=60)
        self._spin.timeout.connect(self._animate)
        self._spin.start()

    def _scroll_to_end_soon(self) -> None:
        self._stick_to_bottom = True
        # after the layout pass that the reset scheduled
        QTimer.singleShot(0, self, self.scrollToBottom)

    def _on_appended(self, _n: int) -> None:
        if self._stick_to_bottom:
            QTimer.singleShot(0, self, self.scrollToBottom)

    def _on_scroll(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 40
        if value <= bar.minimum() and self._model.has_older and bar.maximum() > 0:
            self._model.load_older()

    def _remember_position(self, _parent: QModelIndex, first: int, _last: int) -> None:
        if first == 0 and self._model.rowCount() > 0:
            bar = self.verticalScrollBar()
            self._anchor = (bar.maximum(), bar.value())

    def _restore_position(self, _n: int) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        old_max, old_value = anchor

        def restore() -> None:
            bar = self.verticalScrollBar()
            bar.setValue(old_value + bar.maximum() - old_max)

        self.doItemsLayout()
        restore()

    def _thumbnail_changed(self, media_id: int) -> None:
        row = self._model.row_of_media(media_id)
        if row >= 0:
            self.viewport().update(self.visualRect(self._model.index(row)))

    def _animate(self) -> None:
        """Repaint rows with a spinner; nothing when no visible media is busy (idle CPU stays idle)."""
        if not self.isVisible():
            return
        area = self.viewport().rect()
        for row in self._model.busy_rows():
            rect = self.visualRect(self._model.index(row))
            if rect.intersects(area):
                self.viewport().update(rect)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            pos = event.position().toPoint()
            index = self.indexAt(pos)
            over = index.isValid() and self._delegate.button_at(index, self.visualRect(index), pos) is not None
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor)
        return super().viewportEvent(event)

    def link_menu(self, pos: QPoint) -> QMenu | None:
        """The bubble's context menu at `pos`: Copy link, for a media stored on S3 (a local file has no link)."""
        index = self.indexAt(pos)
        msg = self._model.message(index.row()) if index.isValid() else None
        media = msg.media if msg is not None else None
        if media is None or media.status != "completed" or media.location == "local":
            return None
        menu = QMenu(self)
        menu.addAction("Copy link", lambda: self.copy_link.emit(media.id))
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt's own name
        menu = self.link_menu(event.pos())
        if menu is not None:
            menu.exec(event.globalPos())

    def stop(self) -> None:
        self._spin.stop()
