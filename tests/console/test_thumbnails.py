"""Thumbnails decode off the GUI thread; a stored file that fails to read is retried before the error shows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage

from console.thumbnails import ThumbnailCache


def _png(w: int = 1200, h: int = 800) -> bytes:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor("#00a884"))
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(data)


def test_a_flaky_read_is_retried_and_the_thumbnail_is_scaled(qtbot: Any) -> None:
    calls: list[str] = []
    png = _png()

    def read(path: str, location: str) -> bytes:
        assert location == "local"
        calls.append(path)
        if len(calls) < 3:
            raise OSError("S3 timed out")
        return png

    cache = ThumbnailCache(read, retry_delays=(0.01, 0.01, 0.01))
    assert cache.get(1, "a.png") is None
    with qtbot.waitSignal(cache.changed, timeout=5000):
        pass
    pixmap = cache.get(1, "a.png")
    assert len(calls) == 3 and pixmap is not None and cache.error(1) is None
    assert pixmap.width() == 640 and pixmap.height() < 640  # decoded at display size, not 1200 px


def test_the_error_shows_after_three_retries(qtbot: Any) -> None:
    calls: list[str] = []

    def read(path: str, location: str) -> bytes:
        calls.append(path)
        raise FileNotFoundError(path)

    cache = ThumbnailCache(read, retry_delays=(0.01, 0.01, 0.01))
    with qtbot.waitSignal(cache.changed, timeout=5000):
        cache.get(2, "gone.png")
    assert len(calls) == 4 and "could not be opened" in cache.error(2)
    assert cache.get(2, "gone.png") is None and len(calls) == 4  # no retry storm from repaints
    cache.forget(2)
    assert cache.error(2) is None


def test_a_paints_worth_of_loads_starts_after_the_paint_and_one_bad_file_spares_the_others(qtbot: Any) -> None:
    png = _png(64, 48)
    reads: list[str] = []

    def read(path: str, location: str) -> bytes:
        reads.append(path)
        if path == "bad.png":
            raise FileNotFoundError(path)
        return png

    cache = ThumbnailCache(read, retry_delays=(0.01,))
    paths = {mid: "bad.png" if mid == 4 else f"{mid}.png" for mid in range(1, 13)}
    for mid, path in paths.items():  # one paint asking for a screenful
        assert cache.get(mid, path) is None and cache.loading(mid)
    assert reads == []  # nothing started inside the paint
    qtbot.waitUntil(lambda: all(cache.peek(m) is not None for m in paths if m != 4) and cache.error(4) is not None,
                    timeout=5000)
    assert reads.count("bad.png") == 2 and not any(cache.loading(m) for m in paths)
