"""The charts' plot items: pyqtgraph's, with less Python work on each refresh, for the same pixels.

A refresh gives every plot new data, moves most ranges, and has Qt paint each plot again: pyqtgraph's items do
per-point Python work on new data (ScatterPlotItem keeps a record per spot) or per call of `boundingRect`
(BarGraphItem measures a pixel in data units each time Qt asks, a dozen times a paint). These keep what they
work out until their data or the view's scale changes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QApplication

MARGIN = 4.0  # around a label's text, in pixels (what a text item's document leaves)


def _pixel_size(item: pg.GraphicsObject) -> tuple[float, float]:
    """The width and height of one device pixel in `item`'s coordinates; (0, 0) before it is in a view."""
    px, py = item.pixelVectors()
    return (0.0 if px is None else px.length()), (0.0 if py is None else py.length())


def _label_size(text: str) -> tuple[float, float]:
    """The box of a label of `text` in the application's font, its margin included, in pixels."""
    return _measured(text, QApplication.font().key())


@functools.lru_cache(maxsize=1024)
def _measured(text: str, font: str) -> tuple[float, float]:
    metrics = QFontMetricsF(QApplication.font())
    return metrics.horizontalAdvance(text) + 2 * MARGIN, metrics.height() + 2 * MARGIN


class _KeptBounds:
    """An item whose bounding rect (data, and a few pixels around it in data units) is worked out once per change
    of its data or of the view's scale, not each time Qt asks for it, a dozen times a paint."""

    _bounds: QRectF | None = None

    def _measure(self) -> QRectF:
        raise NotImplementedError

    def _changed(self) -> None:
        """Its data changed: new bounds, and a repaint."""
        self.prepareGeometryChange()
        self._bounds = None
        self.update()

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph's name
        # What is in pixels (a dot's radius, a label) covers other data units at another scale.
        self.prepareGeometryChange()
        self._bounds = None
        super().viewTransformChanged()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        if self._bounds is None:
            self._bounds = self._measure()
        return self._bounds


class Dots(_KeptBounds, pg.GraphicsObject):
    """Points drawn as round dots `size` pixels across, at any zoom: one QPainter call for all of them, where a
    ScatterPlotItem builds and keeps a Python record for every spot whenever its data is set."""

    def __init__(self, size: float, color: tuple[int, int, int, int]) -> None:
        super().__init__()
        self._pen = QPen(QColor(*color))
        self._pen.setWidthF(size)
        self._pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self._pen.setCosmetic(True)
        self._points = QPolygonF()
        self._data = QRectF()
        self.xs: list[float] = []
        self.ys: list[float] = []

    def setData(self, xs: Sequence[float], ys: Sequence[float]) -> None:  # noqa: N802 - pyqtgraph's name
        self.xs, self.ys = list(xs), list(ys)
        self._points = QPolygonF([QPointF(x, y) for x, y in zip(self.xs, self.ys, strict=True)])
        self._data = self._points.boundingRect()
        self._changed()
        self.informViewBoundsChanged()

    def getData(self) -> tuple[list[float], list[float]]:  # noqa: N802 - pyqtgraph's name
        return self.xs, self.ys

    def _measure(self) -> QRectF:
        if self._points.isEmpty():
            return QRectF()
        w, h = _pixel_size(self)
        r = self._pen.widthF()  # the radius, with a pixel to spare for antialiasing
        return self._data.adjusted(-r * w, -r * h, r * w, r * h)

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange: Any = None) -> tuple[float | None, float | None]:  # noqa: N802, N803
        if self._points.isEmpty():
            return None, None
        d = self._data
        return (d.left(), d.right()) if ax == 0 else (d.top(), d.bottom())

    def paint(self, p: QPainter, *args: object) -> None:
        if self._points.isEmpty():
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(self._pen)
        p.drawPoints(self._points)

    def implements(self, interface: str | None = None) -> bool | list[str]:
        # A data item to PlotItem, as ScatterPlotItem is.
        return ["plotData"] if interface is None else interface == "plotData"

    def name(self) -> str | None:
        return None  # no legend entry


class Bars(_KeptBounds, pg.BarGraphItem):
    """pyqtgraph's BarGraphItem, its bounding rect kept (pyqtgraph's measures a device pixel in data units on
    every call, for its pen)."""

    def setOpts(self, **opts: Any) -> None:  # noqa: N802 - pyqtgraph's name
        self._bounds = None
        super().setOpts(**opts)  # which announces the new geometry and repaints

    def _measure(self) -> QRectF:
        return pg.BarGraphItem.boundingRect(self)


class Marker(_KeptBounds, pg.GraphicsObject):
    """A vertical line at `value` across the plot, with a label on it: pyqtgraph's InfiniteLine and its label
    (a text item of its own) worked out where the line meets the view and placed the label again, in Python, on
    each move; this one draws both in its paint, in pixels. `position` is where the label sits, from the bottom
    (0) to the top (1); `side` 0 puts it right of the line, 1 left of it."""

    def __init__(self, pen: QPen, color: str, *, position: float, side: int,
                 fill: tuple[int, int, int, int] = (255, 255, 255, 220)) -> None:
        super().__init__()
        self._pen = QPen(pen)
        self._pen.setCosmetic(True)
        self._ink = QColor(color)
        self._fill = QColor(*fill)
        self._position, self._side = position, side
        self.value = 0.0
        self.text = ""

    def setValue(self, value: float) -> None:  # noqa: N802 - pyqtgraph's name
        if value != self.value:
            self.value = value
            self._changed()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text != self.text:
            self.text = text
            self._changed()

    def _measure(self) -> QRectF:
        view = self.viewRect()  # what of the view the item sees, in its own coordinates
        if view is None:
            return QRectF()
        px, _ = _pixel_size(self)
        reach = (_label_size(self.text)[0] + 2) * px  # the label's width, and the line's, in data units
        return QRectF(self.value - reach, view.top(), 2 * reach, view.height())

    def paint(self, p: QPainter, *args: object) -> None:
        view = self.viewRect()
        if view is None:
            return
        to_device = p.transform()
        bottom = to_device.map(QPointF(self.value, view.top()))
        top = to_device.map(QPointF(self.value, view.bottom()))
        p.save()
        p.resetTransform()  # the label in pixels, whatever the plot's scale
        p.setPen(self._pen)
        p.drawLine(bottom, top)
        if self.text:
            w, h = _label_size(self.text)
            y = bottom.y() + (top.y() - bottom.y()) * self._position - h / 2
            x = bottom.x() - w if self._side else bottom.x()
            box = QRectF(x, y, w, h)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self._fill)
            p.drawRect(box)
            p.setFont(QApplication.font())
            p.setPen(self._ink)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.text)
        p.restore()


class Labels(_KeptBounds, pg.GraphicsObject):
    """Value labels at points of the plot, `anchor` of each label's box on its point ((0.5, 1): centred above it;
    (0, 0.5): right of it): one item drawing them all in pixels, where a pyqtgraph TextItem per label (a text
    document each) was laid out again, moved and given a new transform, one by one, whenever a value changed."""

    def __init__(self, color: str, anchor: tuple[float, float]) -> None:
        super().__init__()
        self._ink = QColor(color)
        self._anchor = anchor
        self.labels: list[tuple[float, float, str]] = []

    def setLabels(self, labels: Sequence[tuple[float, float, str]]) -> None:  # noqa: N802 - pyqtgraph's style
        """(x, y, text) of each label, in the plot's data."""
        labels = list(labels)
        if labels != self.labels:
            self.labels = labels
            self._changed()

    def _box(self, x: float, y: float, text: str) -> QRectF:
        """A label's box in pixels, its anchor at (x, y) (pixels too)."""
        w, h = _label_size(text)
        return QRectF(x - w * self._anchor[0], y - h * self._anchor[1], w, h)

    def _measure(self) -> QRectF:
        bounds = QRectF()
        px, py = _pixel_size(self)
        ax, ay = self._anchor
        for x, y, text in self.labels:
            w, h = _label_size(text)
            # In data units: y grows upwards, pixels downwards.
            bounds |= QRectF(x - w * ax * px, y - h * (1 - ay) * py, w * px, h * py)
        return bounds

    def paint(self, p: QPainter, *args: object) -> None:
        if not self.labels:
            return
        to_device = p.transform()
        p.save()
        p.resetTransform()
        p.setFont(QApplication.font())
        p.setPen(self._ink)
        for x, y, text in self.labels:
            at = to_device.map(QPointF(x, y))
            p.drawText(self._box(at.x(), at.y(), text), Qt.AlignmentFlag.AlignCenter, text)
        p.restore()
