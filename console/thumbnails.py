"""Thumbnails: decoded off the GUI thread at the size they are shown, kept in a small LRU cache.

A stored file that cannot be read (disk hiccup, S3 timeout) is tried again three times with backoff
before its bubble shows the error: most of those failures are gone a second later.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from console.tasks import run_task

log = logging.getLogger(__name__)

RETRY_DELAYS_S: tuple[float, ...] = (0.25, 0.75, 2.0)
BATCH = 5  # first loads decoded by one pool task: a paint asking for 10 started 10 tasks, a 12 ms frame
MAX_DECODE = QSize(640, 640)  # twice the largest bubble box: sharp on HiDPI, small in memory


class ThumbnailError(Exception):
    """The stored file could not be read or is not an image Qt can decode."""


def decode_thumbnail(data: bytes, box: QSize = MAX_DECODE) -> QImage:
    """Decode `data` scaled to fit `box`; runs on a pool thread (QImage is thread-safe, QPixmap is not)."""
    buf = QBuffer()
    buf.setData(QByteArray(data))
    buf.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buf)
    reader.setAutoTransform(True)  # phone photos carry their rotation in EXIF
    size = reader.size()
    if size.isValid() and (size.width() > box.width() or size.height() > box.height()):
        reader.setScaledSize(size.scaled(box, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        raise ThumbnailError(f"not a picture Qt can show ({reader.errorString()})")
    return image


class ThumbnailCache(QObject):
    """`get(media_id, path, location)` answers a cached pixmap or None and starts loading it; `changed` says
    when. `read_bytes(path, location)` reads a stored file ("local" disk or "amazon" S3)."""

    changed = Signal(int)  # media id whose thumbnail (or error) is now known

    def __init__(self, read_bytes: Callable[[str, str], bytes], *, capacity: int = 300,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS_S, box: QSize = MAX_DECODE,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._read_bytes = read_bytes
        self._box = box  # decoded at the size shown: painting never scales a big picture down
        self._capacity = capacity
        self._retry_delays = retry_delays
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._loading: set[int] = set()
        self._errors: dict[int, str] = {}
        # Loads asked for while painting start after the paint: QThreadPool.start() in a paint, and the new
        # worker taking the GIL at once, were most of the frame that first showed a screenful of thumbnails.
        self._queued: list[tuple[int, str, str]] = []
        self._start_timer = QTimer(self, singleShot=True, interval=0)
        self._start_timer.timeout.connect(self._start_queued)

    def get(self, media_id: int, path: str | None, location: str = "local") -> QPixmap | None:
        pixmap = self._cache.get(media_id)
        if pixmap is not None:
            self._cache.move_to_end(media_id)
            return pixmap
        if path and media_id not in self._loading and media_id not in self._errors:
            self._loading.add(media_id)
            self._queued.append((media_id, path, location))
            if not self._start_timer.isActive():
                self._start_timer.start()
        return None

    def peek(self, media_id: int) -> QPixmap | None:
        """The cached pixmap, if any, without starting a load (a view scrolling past does not want one)."""
        return self._cache.get(media_id)

    def error(self, media_id: int) -> str | None:
        return self._errors.get(media_id)

    def loading(self, media_id: int) -> bool:
        return media_id in self._loading

    def forget(self, media_id: int) -> None:
        """Drop what is known (the media was retried and will come back with a new file)."""
        self._cache.pop(media_id, None)
        self._errors.pop(media_id, None)

    def _start_queued(self) -> None:
        queued, self._queued = self._queued, []
        read, box = self._read_bytes, self._box

        def decode(batch: list[tuple[int, str, str]]) -> list[QImage | BaseException]:
            out: list[QImage | BaseException] = []
            for _mid, path, location in batch:
                try:
                    out.append(decode_thumbnail(read(path, location), box))
                except Exception as exc:  # this one is retried alone; the others of the batch still show
                    out.append(exc)
            return out

        for i in range(0, len(queued), BATCH):
            batch = queued[i:i + BATCH]
            run_task(partial(decode, batch), partial(self._batch_done, batch), partial(self._batch_failed, batch))

    def _batch_done(self, batch: list[tuple[int, str, str]], results: list[QImage | BaseException]) -> None:
        for (media_id, path, location), result in zip(batch, results, strict=True):
            if isinstance(result, QImage):
                self._loaded(media_id, result)
            else:
                self._failed(media_id, path, location, 0, result)

    def _batch_failed(self, batch: list[tuple[int, str, str]], exc: BaseException) -> None:
        for media_id, path, location in batch:
            self._failed(media_id, path, location, 0, exc)

    def _load(self, media_id: int, path: str, location: str, attempt: int) -> None:
        self._loading.add(media_id)
        read, box = self._read_bytes, self._box
        run_task(lambda: decode_thumbnail(read(path, location), box),
                 lambda image: self._loaded(media_id, image),
                 lambda exc: self._failed(media_id, path, location, attempt, exc))

    def _loaded(self, media_id: int, image: QImage) -> None:
        self._loading.discard(media_id)
        self._cache[media_id] = QPixmap.fromImage(image)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        self.changed.emit(media_id)

    def _failed(self, media_id: int, path: str, location: str, attempt: int, exc: BaseException) -> None:
        if attempt < len(self._retry_delays):
            delay_ms = int(self._retry_delays[attempt] * 1000)
            log.info("reading media %d failed (%s); trying again in %d ms", media_id, exc, delay_ms)
            QTimer.singleShot(delay_ms, self, lambda: self._load(media_id, path, location, attempt + 1))
            return
        self._loading.discard(media_id)
        self._errors[media_id] = f"The stored file could not be opened: {exc}"
        log.warning("media %d: giving up reading %s: %s", media_id, path, exc)
        self.changed.emit(media_id)
