"""What a click on a bubble's button does: Retry, view a photo, play, open, show in folder, open a map.

The delegate says which button of which message (`action(name, MessageView)`); this does it. Media on S3
has no local path, so playing or opening it first copies it to a temp file, off the GUI thread. What the
user should know (a retry started, a file that could not be fetched) goes through the bridge.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget

from console.bridge import EngineBridge
from console.conversation import MessageListModel
from console.image_viewer import ImageViewer
from console.media_player import MediaPlayerDialog
from console.tasks import run_task
from console.thumbnails import ThumbnailCache
from engine import MediaCache, MediaDeskEngine, MessageView


class MediaActions(QObject):
    def __init__(self, engine: MediaDeskEngine, bridge: EngineBridge, messages: MessageListModel,
                 window: QWidget) -> None:
        super().__init__(window)
        self.engine = engine
        self.bridge = bridge
        self.messages = messages
        self.window = window  # the parent of the viewer and player dialogs
        # Files on S3 (put there by workers anywhere) are fetched once, then read from the data folder.
        self.files = MediaCache(engine.storage_for, engine.cfg.data_dir / "cache")
        self.thumbnails = ThumbnailCache(self.read_media, parent=self)

    def read_media(self, path: str, location: str) -> bytes:
        """A stored file's bytes, wherever it is kept (runs on pool threads)."""
        return self.files.read_bytes(path, location)

    @Slot(str, object)
    def run(self, name: str, msg: MessageView) -> None:
        media = msg.media
        if name == "map":
            loc = (msg.meta or {}).get("location") or {}
            QDesktopServices.openUrl(QUrl(f"https://www.openstreetmap.org/?mlat={loc.get('latitude')}"
                                          f"&mlon={loc.get('longitude')}#map=17/{loc.get('latitude')}/"
                                          f"{loc.get('longitude')}"))
            return
        if media is None:
            return
        if name == "retry":
            self.thumbnails.forget(media.id)
            self.messages.retry(media.id)
            self.bridge.info(f"Downloading {media.name or msg.type} again…")
        elif name == "view":
            path, location = media.path, media.location
            ImageViewer(lambda: self.read_media(path, location), title=media.name or "Photo",
                        parent=self.window).show()
        elif name in ("play", "open", "folder"):
            self._with_local_file(msg, name)

    def _with_local_file(self, msg: MessageView, name: str) -> None:
        media = msg.media
        local = self.engine.storage_for(media.location).local_path(media.path) if media.path else None
        if local is not None:
            self._open_local(msg, name, Path(local))
            return
        path, location, files = media.path, media.location, self.files

        def fetch() -> Path:
            # The suffix lets the player and the desktop's "open" pick the right program.
            return files.local_file(path, location, suffix=Path(media.name or "").suffix or "")

        run_task(fetch, lambda p: self._open_local(msg, name, p),
                 lambda exc: self.bridge.warning(f"Could not fetch the file: {exc}"))

    def _open_local(self, msg: MessageView, name: str, path: Path) -> None:
        if name == "play":
            MediaPlayerDialog(path, title=msg.media.name or msg.type.capitalize(), video=msg.type == "video",
                              parent=self.window).show()
        elif name == "open":
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        elif name == "folder":
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
