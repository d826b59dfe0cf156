"""Full-size view of a photo or sticker, decoded off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout
from shiboken6 import isValid

from console.tasks import run_task
from console.thumbnails import decode_thumbnail


class ImageViewer(QDialog):
    def __init__(self, read: Callable[[], bytes], *, title: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(900, 700)
        self.label = QLabel("Loading…", self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        area = QScrollArea(self)
        area.setWidget(self.label)
        area.setWidgetResizable(True)
        area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(area)
        run_task(lambda: decode_thumbnail(read(), QSize(4096, 4096)), self._shown, self._failed)

    def _shown(self, image: QImage) -> None:
        if not isValid(self):  # closed while decoding
            return
        self.label.setPixmap(QPixmap.fromImage(image))

    def _failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self.label.setText(f"This picture could not be opened: {exc}")
