"""`--screenshot FILE`: wait until the first window shows its data, save it as PNG, report the start time.

"With its data" means: the engine is running, the chat list is loaded, a chat is open (one with a
failed media when there is one, so the picture shows the states that matter) and that chat's media
have settled and their thumbnails are decoded. A deadline keeps a stuck download from hanging it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

DEADLINE_S = 30.0


class ScreenshotTaker(QObject):
    def __init__(self, window: Any, path: Path, *, first_paint: Any, startup: Any, runner: Any,
                 process_start: float, deadline_s: float = DEADLINE_S) -> None:
        super().__init__(window)
        self.window, self.path = window, path
        self.first_paint, self.startup, self.runner = first_paint, startup, runner
        self.process_start = process_start
        self.deadline = time.monotonic() + deadline_s
        self.exit_code = 1
        self._chosen: int | None = None
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._poll)

    def start(self) -> None:
        self._timer.start()

    def _poll(self) -> None:
        if self.startup.error:
            print(f"mediadesk: the engine could not start: {self.startup.error}")
            self._finish(ok=False)
            return
        if time.monotonic() > self.deadline:
            log.warning("screenshot: data not settled before the deadline; saving what is shown")
            self._finish(ok=True)
            return
        if self.first_paint.at is None or not self.startup.ready:
            return
        if self.runner is not None and not self.runner.done.is_set():
            return
        w = self.window
        if w.chats.rowCount() == 0:
            if self.runner is None and w.status.last is not None and not w.chats._loading:
                self._finish(ok=True)  # an empty database: the empty window is the truth
            return
        if self._chosen is None:
            if w._reload_timer.isActive() or w.chats._loading:
                return  # the list is about to change again
            self._chosen = self._pick_chat()
            w.select_chat(self._chosen)
            return
        m = w.messages
        if m.contact_id != self._chosen or m.rowCount() == 0:
            return
        if m.busy_rows():
            return
        for row in range(m.rowCount()):
            media = m.message(row).media
            if (media and media.status == "completed" and m.message(row).type in ("image", "sticker")
                    and w.thumbnails.get(media.id, media.thumbnail or media.path, media.location) is None
                    and not w.thumbnails.error(media.id)):
                return
        self._finish(ok=True)

    def _pick_chat(self) -> int:
        # Only loaded rows: past the first pages the virtual list holds placeholders (None).
        chats = [c for r in range(self.window.chats.rowCount()) if (c := self.window.chats.summary(r)) is not None]
        with_failures = [c for c in chats if c.failed_media]
        pool = with_failures or chats
        return max(pool, key=lambda c: (c.messages, c.last_at or 0)).contact_id

    def _finish(self, *, ok: bool) -> None:
        self._timer.stop()
        if ok:
            self.window.repaint()
            image = self.window.grab()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if image.save(str(self.path), "PNG"):
                first = ((self.first_paint.at or time.monotonic()) - self.process_start) * 1000
                shown = (time.monotonic() - self.process_start) * 1000
                print(f"first window: {first:.0f} ms")
                print(f"with data: {shown:.0f} ms; screenshot saved to {self.path}")
                self.exit_code = 0
            else:
                print(f"mediadesk: could not write {self.path}")
        QApplication.instance().quit()
