"""The charts' axes draw what pyqtgraph's own axes draw: the same draw specs, the same pixels, for less."""

from __future__ import annotations

import time

import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage, QPainter

from console.chart_axes import Axis, DateAxis, _plain_tick_values

NOW = time.time()
# (which axis, a value or a date axis, its ticks given or None, y range, x range)
CASES = [
    ("left", "value", None, (0, 30), (0, 10)),
    ("left", "value", None, (0, 0.05), (0, 10)),
    ("left", "value", None, (0, 1234567), (0, 10)),
    ("bottom", "value", None, (0, 10), (-0.6, 3.6)),
    ("bottom", "value", [[(0, "pending"), (1, "processing"), (2, "completed"), (3, "failed")]],
     (0, 10), (-0.6, 3.6)),
    ("left", "value", [[(0, "the media could not be downloaded"), (1, "disk full")]],
     (-0.6, 1.6), (0, 10)),
    ("bottom", "date", None, (0, 10), (NOW - 3600, NOW)),
    ("bottom", "date", None, (0, 10), (NOW - 30 * 86400, NOW)),
]


def _plot(qtbot, side: str, kind: str, ticks, y, x, *, ours: bool) -> pg.PlotWidget:
    if kind == "date":
        axis = DateAxis(orientation=side) if ours else pg.DateAxisItem(orientation=side)
    else:
        axis = Axis(side) if ours else pg.AxisItem(side)
    w = pg.PlotWidget(background="w", axisItems={side: axis})
    qtbot.addWidget(w)
    item = w.getPlotItem()
    item.hideButtons()
    item.setLabel("left", "media")
    item.showGrid(x=False, y=True, alpha=0.15)
    item.getAxis(side).setStyle(maxTickLevel=1, maxTextLevel=1)
    if ticks is not None:
        item.getAxis(side).setTicks(ticks)
    item.setRange(xRange=x, yRange=y, padding=0)
    w.resize(420, 300)
    w.show()
    qtbot.waitExposed(w)
    return w


def _specs(axis: pg.AxisItem, fn) -> tuple:
    # From nothing: the room for labels the specs ask for is then exactly theirs, not one kept from a call before.
    axis.textWidth = axis.textHeight = 0
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    p = QPainter(image)
    try:
        axis_spec, ticks, texts = fn(axis, p)
    finally:
        p.end()

    def line(spec):
        pen, a, b = spec
        return pen.color().rgba(), round(a.x(), 6), round(a.y(), 6), round(b.x(), 6), round(b.y(), 6)

    labels = [(r.getRect(), f, s) for r, f, s in texts]
    return line(axis_spec), [line(t) for t in ticks], labels, (axis.textWidth, axis.textHeight)


@pytest.mark.parametrize(("side", "kind", "ticks", "y", "x"), CASES)
def test_the_lean_specs_are_pyqtgraphs_own(qtbot, side, kind, ticks, y, x):
    w = _plot(qtbot, side, kind, ticks, y, x, ours=True)
    axis = w.getPlotItem().getAxis(side)
    ours = _specs(axis, type(axis).generateDrawSpecs)
    pyqtgraphs = pg.DateAxisItem if isinstance(axis, DateAxis) else pg.AxisItem
    own = _specs(axis, pyqtgraphs.generateDrawSpecs)
    assert ours == own
    assert ours[1] and ours[2]  # ticks and labels were drawn: the comparison compared something


@pytest.mark.parametrize(("side", "kind", "ticks", "y", "x"), CASES)
def test_a_plot_with_these_axes_has_the_pixels_of_one_with_pyqtgraphs(qtbot, side, kind, ticks, y, x):
    ours = _plot(qtbot, side, kind, ticks, y, x, ours=True).grab().toImage()
    own = _plot(qtbot, side, kind, ticks, y, x, ours=False).grab().toImage()
    assert ours.size() == own.size()
    assert ours == own


def test_a_measured_label_is_measured_once(qtbot):
    w = _plot(qtbot, "left", "value", None, (0, 30), (0, 10), ours=True)
    axis = w.getPlotItem().getAxis("left")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)

    def measured() -> list[str]:
        calls: list[str] = []
        p = QPainter(image)
        real = p.boundingRect
        p.boundingRect = lambda *a: (calls.append(a[-1]), real(*a))[1]
        try:
            axis.generateDrawSpecs(p)
        finally:
            p.end()
        return calls

    assert sorted(measured()) == ["0", "10", "15", "20", "25", "30", "5"]
    assert measured() == [] and measured() == []  # not on each paint since
    w.getPlotItem().setRange(yRange=(0, 40), padding=0)
    assert sorted(measured()) == ["35", "40"]  # only the labels it had not yet


def test_a_count_axis_ticks_whole_numbers_only(qtbot):
    w = pg.PlotWidget(axisItems={"left": Axis("left", counts=True)})
    qtbot.addWidget(w)
    w.resize(420, 300)
    w.show()
    qtbot.waitExposed(w)
    item, axis = w.getPlotItem(), w.getPlotItem().getAxis("left")

    def labels(y: tuple[float, float]) -> list[str]:
        item.setRange(yRange=y, padding=0)
        return [text for _, _, text in _specs(axis, Axis.generateDrawSpecs)[2]]

    assert labels((0, 2.5)) == ["0", "1", "2"]  # pyqtgraph's own: 0, 0.5, 1, 1.5, 2, 2.5
    assert labels((-0.02, 1.1)) == ["0", "1"]
    many = labels((0, 5000))
    assert many and all(float(t) == int(float(t)) for t in many)
    axis.counts = False
    assert "0.5" in labels((0, 2.5))  # the same axis, not counting: pyqtgraph's ticks


@pytest.mark.parametrize(("low", "high", "size"), [(0, 30, 260), (-0.6, 3.6, 400), (0, 1234567, 180),
                                                   (0, 0.05, 300), (12.5, 12.5, 300), (-5e6, 5e6, 900)])
def test_plain_tick_values_are_pyqtgraphs(qtbot, low, high, size):
    axis = pg.AxisItem("left")
    axis.setStyle(maxTickLevel=1)
    assert _plain_tick_values(axis, low, high, size) == pg.AxisItem.tickValues(axis, low, high, size)
    axis.setScale(1000)
    assert _plain_tick_values(axis, low, high, size) == pg.AxisItem.tickValues(axis, low, high, size)
