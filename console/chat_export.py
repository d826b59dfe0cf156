"""Export chat… in the conversation header, and Copy link for media stored on S3.

The export is the engine's `export_chat` (an HTML page with the chat's files) on a pool thread; its
`progress` callback feeds a progress bar and obeys Cancel (the engine then leaves nothing behind).
`copy_media_link` asks the engine for a time-limited S3 link off the GUI thread and puts it on the clipboard.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QProgressBar, QPushButton, QWidget

from console.bridge import EngineBridge
from console.progress import Cancelled, TaskProgress
from console.tasks import run_task
from engine import ExportResult, export_chat, media_link


class ChatExport(QWidget):
    """The header's Export button; while an export runs, its progress bar and Cancel instead."""

    finished = Signal(object)  # the ExportResult, or None when cancelled or failed

    def __init__(self, engine: Any, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.bridge = bridge
        self.contact_id: int | None = None
        self.button = QPushButton("Export chat…", self)
        self.button.setObjectName("exportChat")
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(160)
        self.bar.hide()
        self.cancel = QPushButton("Cancel", self)
        self.cancel.hide()
        self.progress = TaskProgress(self.bar, self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.cancel)
        row.addWidget(self.button)
        self.button.clicked.connect(self._ask_folder)
        self.cancel.clicked.connect(self.progress.cancel)

    def set_contact(self, contact_id: int | None) -> None:
        self.contact_id = contact_id

    @property
    def running(self) -> bool:
        return self.cancel.isVisible()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the chat into folder")
        if folder:
            self.export_to(Path(folder) / f"MediaDesk chat {datetime.now():%Y-%m-%d %H%M%S}")

    def export_to(self, out: Path, *, zip: bool = False) -> None:  # noqa: A002 - the engine's own word
        """Export the open chat to the new folder `out` (or `out`.zip), off the GUI thread."""
        if self.contact_id is None or self.running:
            return
        db, storage_for, contact_id, progress = self.engine.db, self.engine.storage_for, self.contact_id, self.progress
        progress.start()
        self.cancel.show()
        self.button.setEnabled(False)
        run_task(lambda: export_chat(db, storage_for, out=out, contact_id=contact_id, zip=zip,
                                     progress=progress.report), self._done, self._failed)

    def _end(self) -> None:
        self.progress.finish()
        self.cancel.hide()
        self.button.setEnabled(True)

    def _done(self, result: ExportResult) -> None:
        self._end()
        self.bridge.info(f"Chat {result.summary()}.")
        self.finished.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self._end()
        if isinstance(exc, Cancelled):
            self.bridge.info("Export cancelled; nothing was left behind.")
        else:
            self.bridge.warning(f"Could not export the chat: {exc}")
        self.finished.emit(None)


def copy_media_link(engine: Any, bridge: EngineBridge, media_id: int, *, done: Any = None) -> None:
    """Put a 7-day link to an S3-stored media on the clipboard (the engine signs it off the GUI thread)."""
    db, storage_for = engine.db, engine.storage_for

    def copied(link: str) -> None:
        QGuiApplication.clipboard().setText(link)
        bridge.info("Link copied: anyone with it can download the file for 7 days.")
        if done is not None:
            done(link)

    run_task(lambda: media_link(db, storage_for, media_id), copied,
             lambda exc: bridge.warning(f"Could not make a link: {exc}"))
