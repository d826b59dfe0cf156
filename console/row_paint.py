"""What the list delegates (chat list, Media view) share to paint a row cheaply.

A row is painted for every step of a scroll, from Python: text is drawn at a point on a baseline worked out
once per line (a rectangle and alignment flags send each string through Qt's text formatting, about twice
the cost of the text itself), and answers that depend only on a string (its elided form, its width) are
kept in a bounded dict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from PySide6.QtGui import QFontMetrics

T = TypeVar("T")


def baseline(metrics: QFontMetrics, top: int, height: int) -> int:
    """The baseline that centres one line of text in a band `height` high from `top` (as AlignVCenter)."""
    return top + (height - metrics.height()) // 2 + metrics.ascent()


def remembered(cache: dict[Hashable, T], key: Hashable, make: Callable[[], T], *, limit: int) -> T:
    """`cache[key]`, made by `make()` the first time; the cache starts over when it reaches `limit` entries."""
    found = cache.get(key)
    if found is None:
        if len(cache) >= limit:
            cache.clear()
        found = cache[key] = make()
    return found
