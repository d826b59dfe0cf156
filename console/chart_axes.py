"""The charts' axes: pyqtgraph's AxisItem and DateAxisItem, cheaper to draw again after each refresh.

A refresh moves most plots' ranges, and every moved axis is laid out and painted anew. Four costs of
pyqtgraph's own drawing are cut here, each giving the same pixels:

- the tick values of a value axis, worked out in plain Python rather than numpy (`_plain_tick_values`);
- the draw specs (where each tick, grid line and label goes): pyqtgraph builds them with a Python `Point` per
  tick end, measures every label's text again and asks for its own bounding rect once per label; here the points
  are plain QPointF, a text's size is measured once and kept, and the rect is asked for once per paint;
- tick and grid lines, filled as one-pixel rects rather than stroked as lines;
- the label's HTML, set again only when its text changes.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QTransform

_UNSCALED = (QTransform.TransformationType.TxNone, QTransform.TransformationType.TxTranslate)
_LEFT_TEXT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextDontClip
_BOTTOM_TEXT = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextDontClip
_UNASKED = object()
_MEASURE_IN = QRectF(0, 0, 100, 100)  # where pyqtgraph measures a label (its size does not depend on it)

# (pen, start, end) of the axis line and of each tick; (rect, flags, text) of each label.
DrawSpecs = tuple[tuple[QPen, QPointF, QPointF], list[tuple[QPen, QPointF, QPointF]], list[tuple[QRectF, int, str]]]


class _LeanSpecs:
    """generateDrawSpecs (pyqtgraph's hook for it) for left and bottom axes, the charts' only ones; any other
    axis, or one that stops at its ticks, is drawn by pyqtgraph's own."""

    def generateDrawSpecs(self, p: QPainter) -> DrawSpecs | None:  # noqa: N802 - pyqtgraph's name
        style = self.style
        if self.orientation not in ("left", "bottom") or any(style["stopAxisAtTick"]) or not style["showValues"]:
            return super().generateDrawSpecs(p)
        if style["tickFont"] is not None:
            p.setFont(style["tickFont"])
        left = self.orientation == "left"
        bounds = self.mapRectFromParent(self.geometry())
        view = self.linkedView()
        ticks_in = bounds if view is None or self.grid is False else view.mapRectToItem(self, view.boundingRect())
        if left:
            span = (QPointF(bounds.right() - 1, bounds.top() - 1), QPointF(bounds.right() - 1, bounds.bottom() + 1))
            tick_start, tick_stop, tick_dir = ticks_in.right(), bounds.right(), -1
        else:
            span = (QPointF(bounds.left() - 1, bounds.top() + 1), QPointF(bounds.right() + 1, bounds.top() + 1))
            tick_start, tick_stop, tick_dir = ticks_in.top(), bounds.top(), 1
        ends = [self.mapToDevice(s) for s in span]
        if None in ends:
            return None
        length = math.hypot(ends[1].x() - ends[0].x(), ends[1].y() - ends[0].y())
        if length == 0:
            return None
        levels, strings_given = self._levels(length)

        low, high = self.range
        if high == low:
            scale, offset = 1.0, 0.0
        elif left:
            scale = -bounds.height() / (high - low)
            offset = low * scale - bounds.height()
        else:
            scale = bounds.width() / (high - low)
            offset = low * scale
        x_min, x_max = sorted((low * scale - offset, high * scale - offset))

        positions: list[list[float | None]] = []
        tick_specs = []
        for i, (_spacing, values) in enumerate(levels):
            pen = self._tick_pen(i, len(values), length)
            end = tick_stop + (style["tickLength"] / (i * 0.5 + 1.0)) * tick_dir if self.grid is False else tick_stop
            at: list[float | None] = []
            for v in values:
                x = v * scale - offset
                if x < x_min or x > x_max:
                    at.append(None)
                    continue
                at.append(x)
                if left:
                    tick_specs.append((pen, QPointF(tick_start, x), QPointF(end, x)))
                else:
                    tick_specs.append((pen, QPointF(x, tick_start), QPointF(x, end)))
            positions.append(at)
        axis_spec = (self.pen(), span[0], span[1])
        return axis_spec, tick_specs, self._text_specs(p, levels, strings_given, positions, length, tick_stop, left)

    def _levels(self, length: float) -> tuple[list[tuple[Any, list[float]]], list[list[str]] | None]:
        if self._tickLevels is None:
            return self.tickValues(self.range[0], self.range[1], length), None
        levels = [(None, [v for v, _ in level]) for level in self._tickLevels]
        return levels, [[s for _, s in level] for level in self._tickLevels]

    def _tick_pen(self, level: int, n_ticks: int, length: float) -> QPen:
        alpha = self.style["tickAlpha"]
        if alpha is None:
            alpha = 255 / (level + 1)
            if self.grid is not False:
                alpha *= self.grid / 255.0 * min(max(0.05 * length / (n_ticks + 1), 0.0), 1.0)
        elif isinstance(alpha, float):
            alpha = min(255, max(0, int(round(alpha * 255))))
        pen = self.tickPen()
        if pen.brush().style() != Qt.BrushStyle.SolidPattern:
            return pen
        pen = QPen(pen)
        color = QColor(pen.color())
        color.setAlpha(int(alpha))
        pen.setColor(color)
        return pen

    def _text_size(self, p: QPainter, font: str, text: str) -> tuple[float, float]:
        """A label's (width, height) as pyqtgraph measures it (its height cut to 0.8, as pyqtgraph does), kept
        per font (`font`, the painter's font's key): the same few labels come back refresh after refresh."""
        sizes = self.__dict__.setdefault("_text_sizes", {})
        key = (font, text)
        size = sizes.get(key)
        if size is None:
            if len(sizes) > 2000:
                sizes.clear()
            br = p.boundingRect(_MEASURE_IN, Qt.AlignmentFlag.AlignCenter, text)
            size = sizes[key] = (br.width(), br.height() * 0.8)
        return size

    def _text_specs(self, p: QPainter, levels: list[tuple[Any, list[float]]], strings_given: list[list[str]] | None,
                    positions: list[list[float | None]], length: float, tick_stop: float,
                    left: bool) -> list[tuple[QRectF, int, str]]:
        style = self.style
        text_offset = style["tickTextOffset"][0 if left else 1]
        away = max(0, style["tickLength"]) + text_offset
        inside = self.boundingRect()
        measured: list[tuple[float, float]] = []  # every label's size so far, of this level and those before
        across = across_last = 0.0
        specs: list[tuple[QRectF, int, str]] = []
        font = p.font().key()
        for i in range(min(len(levels), style["maxTextLevel"] + 1)):
            if strings_given is None:
                spacing, values = levels[i]
                strings = self.tickStrings(values, self.autoSIPrefixScale * self.scale, spacing)
            else:
                strings = strings_given[i]
            if len(strings) == 0:
                continue
            sizes = []
            for s, x in zip(strings, positions[i], strict=False):
                size = None if x is None else self._text_size(p, font, s)
                sizes.append(size)
                if size is not None:
                    measured.append(size)
            along = sum(h if left else w for w, h in measured)
            across = max((w if left else h for w, h in measured), default=0.0)
            if i > 0 and any(len(specs) >= n and along / length >= limit for n, limit in style["textFillLimits"]):
                break  # too crowded: this level's labels are not drawn
            across_last = across
            for s, x, size in zip(strings, positions[i], sizes, strict=False):
                if size is None:
                    continue
                w, h = size
                if left:
                    rect, flags = QRectF(tick_stop - away - w, x - h / 2, w, h), _LEFT_TEXT
                else:
                    rect, flags = QRectF(x - w / 2.0, tick_stop + away, w, h), _BOTTOM_TEXT
                if inside & rect == rect:  # as pyqtgraph tests it (contains() is fooled by rounding)
                    specs.append((rect, int(flags), s))
        self._updateMaxTextSize(across_last)
        return specs


class _FlatTicks:
    """Tick and grid lines (all parallel to the axis' normal) filled as one-pixel rects, the same pixels as
    pyqtgraph's lines when nothing scales them: Qt's raster engine draws a translucent line ~30x slower than it
    fills a rect, and the grid, fifty such lines across the plot, is drawn again whenever a refresh moves the
    axis' round top. Drawn straight, not through pyqtgraph's QPicture: the item cache (see charts_view._plot)
    keeps the pixels, and a picture stores the rects with too little precision to land on the lines' pixels.
    Scaled (a high-DPI screen), the axis is drawn as pyqtgraph draws it."""

    def paint(self, p: QPainter, *args: object) -> None:
        # A high-DPI device's scale is part of the device transform.
        if p.deviceTransform().type() not in _UNSCALED:
            super().paint(p, *args)
            return
        p.save()
        if self.style["tickFont"]:
            p.setFont(self.style["tickFont"])
        specs = self.generateDrawSpecs(p)
        if specs is not None:
            axis, ticks, texts = specs
            lines = []
            colors: dict[int, QColor | None] = {}  # a level's ticks share one pen: asked about once
            for pen, p1, p2 in ticks:
                color = colors.get(id(pen), _UNASKED)
                if color is _UNASKED:
                    color = colors[id(pen)] = pen.color() if _fillable(pen) else None
                x1, y1, x2, y2 = p1.x(), p1.y(), p2.x(), p2.y()
                if color is None or (x1 != x2 and y1 != y2):
                    lines.append((pen, p1, p2))
                    continue
                # A square-capped one-pixel line covers half a pixel beyond each end and each side.
                p.fillRect(QRectF(min(x1, x2) - 0.5, min(y1, y2) - 0.5, abs(x2 - x1) + 1, abs(y2 - y1) + 1), color)
            self.drawPicture(p, axis, lines, texts)
        p.restore()


class _SameLabel:
    """An axis whose label is set again only when its text changes: pyqtgraph sets the label's HTML, measures it
    and lays the axis out on every range change (in case its units' SI prefix changed), though it rarely has."""

    def _updateLabel(self) -> None:  # noqa: N802 - pyqtgraph's name
        html = self.labelString()
        if html != getattr(self, "_label_html", None):
            self._label_html = html
            super()._updateLabel()
            return
        self.picture = None
        self.update()


def _plain_tick_values(axis: pg.AxisItem, low: float, high: float, size: float) -> list[tuple[float, list[float]]]:
    """pyqtgraph's tick values, worked out in plain Python (a linear axis): its numpy arrays of a dozen values, and the
    comparison of every tick with every tick of the levels above, cost more than the values themselves."""
    low, high = sorted((low, high))
    scale = axis.scale
    low, high = low * scale, high * scale
    ticks: list[tuple[float, list[float]]] = []
    above: list[float] = []  # the values of the levels above, sorted
    for spacing, offset in axis.tickSpacing(low, high, size):
        start = (math.ceil((low - offset) / spacing) * spacing) + offset
        near = spacing / scale * 0.01  # closer than this to a tick above, a tick is that one (as pyqtgraph)
        values = []
        for k in range(int((high - start) / spacing) + 1):
            v = (k * spacing + start) / scale
            i = bisect.bisect_left(above, v - near)
            if i == len(above) or above[i] > v + near:
                values.append(v)
        above = sorted(above + values)
        ticks.append((spacing / scale, values))
    return ticks


def _fillable(pen: QPen) -> bool:
    return (pen.style() == Qt.PenStyle.SolidLine and pen.capStyle() == Qt.PenCapStyle.SquareCap
            and pen.isCosmetic() and pen.widthF() <= 1 and pen.brush().style() == Qt.BrushStyle.SolidPattern)


class Axis(_SameLabel, _FlatTicks, _LeanSpecs, pg.AxisItem):
    """A value axis; with `counts`, one of whole numbers (media), which never shows a tick at 0.5."""

    def __init__(self, orientation: str, *, counts: bool = False, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.counts = counts

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802
        if self.logMode:
            return super().tickValues(minVal, maxVal, size)
        levels = _plain_tick_values(self, minVal, maxVal, size)
        if not self.counts:
            return levels
        whole = [(spacing, values) for spacing, values in levels if spacing >= 1]
        if whole:
            return whole
        # A range of a few media: pyqtgraph would tick it in halves or fifths; a tick per whole number instead.
        return [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]


class DateAxis(_SameLabel, _FlatTicks, _LeanSpecs, pg.DateAxisItem):
    """A time axis (epoch seconds shown as local dates and times)."""

    def generateDrawSpecs(self, p: QPainter) -> DrawSpecs | None:  # noqa: N802 - pyqtgraph's name
        # What DateAxisItem's own sets before its tick values are asked for: its zoom levels measure with it.
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        self.fontMetrics = p.fontMetrics()
        return super().generateDrawSpecs(p)
