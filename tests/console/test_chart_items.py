"""The charts' lean plot items draw what they stand for: bars as pyqtgraph's, dots and markers where their data
is, inside the rect they tell Qt to repaint, at any zoom."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from console.chart_items import Bars, Dots, Labels, Marker

BG = QColor("white").rgb()


def _plot(qtbot, *items, x=(0, 10), y=(0, 10)) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    qtbot.addWidget(w)
    item = w.getPlotItem()
    item.hideAxis("left")
    item.hideAxis("bottom")
    item.hideButtons()
    for i in items:
        item.addItem(i)
    item.setRange(xRange=x, yRange=y, padding=0)
    w.resize(300, 200)
    w.show()
    qtbot.waitExposed(w)
    return w


def _image(w: pg.PlotWidget) -> QImage:
    return w.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def _device(w: pg.PlotWidget, item: pg.GraphicsObject, x: float, y: float) -> tuple[int, int]:
    """Where (x, y) of `item` lands in the widget's pixels."""
    at = w.mapFromScene(item.mapToScene(QPointF(x, y)))
    return at.x(), at.y()


def _painted(image: QImage) -> list[tuple[int, int]]:
    return [(x, y) for y in range(image.height()) for x in range(image.width()) if image.pixel(x, y) != BG]


@pytest.mark.parametrize("opts", [
    {"x": [1, 2, 3], "height": [4, 0, 7], "width": 0.6, "brush": "#43a047", "pen": None},
    {"x0": [0, 2], "x1": [2, 5], "height": [3, 8], "brush": "#90b4e0", "pen": pg.mkPen("w")},
    {"x0": 0, "y": [1, 2, 3], "height": 0.6, "width": [5, 2, 9], "brush": "#e53935", "pen": None},
    {"x": [1, 2, 3, 4], "height": [2, 3, 4, 5], "width": 0.6, "pen": None,
     "brushes": ["#f0a030", "#1e88e5", "#43a047", "#e53935"]},
])
def test_bars_have_the_pixels_of_pyqtgraphs_bar_graph(qtbot, opts):
    ours = _image(_plot(qtbot, Bars(**opts)))
    own = _image(_plot(qtbot, pg.BarGraphItem(**opts)))
    assert _painted(ours)  # bars were drawn: the comparison compared something
    assert ours == own


def test_bars_bounds_follow_new_data_and_a_new_zoom(qtbot):
    bars = Bars(x=[1], height=[2], width=0.5, brush="#43a047", pen=pg.mkPen("k", width=3))
    w = _plot(qtbot, bars)
    assert bars.boundingRect() == pg.BarGraphItem.boundingRect(bars)
    bars.setOpts(x=[1, 6], height=[2, 9])
    assert bars.boundingRect() == pg.BarGraphItem.boundingRect(bars)
    assert bars.boundingRect().right() > 6
    w.getPlotItem().setRange(xRange=(0, 100), yRange=(0, 100), padding=0)
    w.getPlotItem().getViewBox().prepareForPaint()
    assert bars.boundingRect() == pg.BarGraphItem.boundingRect(bars)  # the pen's pixels in data units again


def test_dots_are_drawn_where_their_data_is_and_inside_their_bounds(qtbot):
    dots = Dots(4, (63, 111, 181, 255))
    w = _plot(qtbot, dots)
    dots.setData([2.0, 8.0, 10.0], [3.0, 7.0, 10.0])  # the last one on the view's corner
    qtbot.waitUntil(lambda: bool(_painted(_image(w))))
    image = _image(w)
    for x, y in ((2.0, 3.0), (8.0, 7.0)):
        px, py = _device(w, dots, x, y)
        assert image.pixel(px, py) != BG
    bounds = w.mapFromScene(dots.mapToScene(dots.boundingRect())).boundingRect().adjusted(-1, -1, 1, 1)
    assert all(bounds.contains(x, y) for x, y in _painted(image))
    assert dots.getData() == ([2.0, 8.0, 10.0], [3.0, 7.0, 10.0])


def test_dots_keep_their_size_in_pixels_when_the_plot_zooms(qtbot):
    dots = Dots(4, (0, 0, 0, 255))
    w = _plot(qtbot, dots)
    dots.setData([5.0], [5.0])

    def extent() -> tuple[int, int]:
        painted = _painted(_image(w))
        xs, ys = [x for x, _ in painted], [y for _, y in painted]
        return max(xs) - min(xs) + 1, max(ys) - min(ys) + 1

    assert all(3 <= n <= 8 for n in extent())
    w.getPlotItem().setRange(xRange=(4, 6), yRange=(4, 6), padding=0)  # five times closer
    qtbot.waitUntil(lambda: bool(_painted(_image(w))))
    assert all(3 <= n <= 8 for n in extent())  # scaled with the data, it would be 20 across


def test_no_dots_draw_nothing(qtbot):
    dots = Dots(4, (0, 0, 0, 255))
    w = _plot(qtbot, dots)
    dots.setData([], [])
    assert dots.boundingRect().isEmpty() and dots.dataBounds(0) == (None, None)
    assert _painted(_image(w)) == []


def test_a_marker_is_a_line_at_its_value_with_its_label_on_the_side_asked(qtbot):
    right = Marker(pg.mkPen("#2e7d32", width=2), "#2e7d32", position=0.9, side=0)
    left = Marker(pg.mkPen("#c62828", width=2), "#c62828", position=0.3, side=1)
    w = _plot(qtbot, right, left)
    right.setValue(3.0)
    right.setText("p50 3.00 s")
    left.setValue(7.0)
    left.setText("p95 7.00 s")
    qtbot.waitUntil(lambda: bool(_painted(_image(w))))
    image = _image(w)
    for marker, color in ((right, "#2e7d32"), (left, "#c62828")):
        x, _ = _device(w, marker, marker.value, 5.0)
        line = [y for y in range(image.height()) if QColor(image.pixel(x, y)) == QColor(color)]
        assert len(line) > image.height() * 0.8  # across the plot, from bottom to top
    # The green label's ink right of its line near the top, the red one's left of its own, lower down.
    green = [(x, y) for x, y in _painted(image) if QColor(image.pixel(x, y)).green() > 100
             and QColor(image.pixel(x, y)).red() < 100 and x > _device(w, right, 3.0, 0)[0] + 2]
    red = [(x, y) for x, y in _painted(image) if QColor(image.pixel(x, y)).red() > 150
           and QColor(image.pixel(x, y)).green() < 100 and x < _device(w, left, 7.0, 0)[0] - 2]
    assert green and max(y for _, y in green) < image.height() * 0.3
    assert red and min(y for _, y in red) > image.height() * 0.5
    bounds = [w.mapFromScene(m.mapToScene(m.boundingRect())).boundingRect().adjusted(-1, -1, 1, 1)
              for m in (right, left)]
    assert all(any(b.contains(x, y) for b in bounds) for x, y in _painted(image))


def test_an_unmoved_marker_asks_for_no_repaint(qtbot):
    marker = Marker(pg.mkPen("k"), "#000000", position=0.5, side=0)
    _view = _plot(qtbot, marker)  # kept: the plot's scene owns the marker
    marker.setValue(2.0)
    marker.setText("p50 2.00 s")
    calls = []
    marker.prepareGeometryChange = lambda: calls.append(1)  # what a move announces to Qt
    marker.setValue(2.0)
    marker.setText("p50 2.00 s")
    assert calls == []
    marker.setValue(2.5)
    assert calls == [1]


@pytest.mark.parametrize(("anchor", "where"), [((0.5, 1), "above"), ((0, 0.5), "right")])
def test_labels_sit_by_their_points_inside_their_bounds(qtbot, anchor, where):
    labels = Labels("#222222", anchor)
    w = _plot(qtbot, labels)
    labels.setLabels([(2.0, 3.0, "1,234"), (7.0, 6.0, "8")])
    qtbot.waitUntil(lambda: bool(_painted(_image(w))))
    painted = _painted(_image(w))
    for x, y in ((2.0, 3.0), (7.0, 6.0)):
        px, py = _device(w, labels, x, y)
        near = [(a, b) for a, b in painted if abs(a - px) < 40 and abs(b - py) < 30]
        assert near
        if where == "above":
            assert all(b < py for _, b in near) and min(a for a, _ in near) < px < max(a for a, _ in near)
        else:
            assert all(a > px for a, _ in near) and min(b for _, b in near) < py < max(b for _, b in near)
    bounds = w.mapFromScene(labels.mapToScene(labels.boundingRect())).boundingRect().adjusted(-1, -1, 1, 1)
    assert all(bounds.contains(x, y) for x, y in painted)


def test_the_same_labels_again_ask_for_no_repaint(qtbot):
    labels = Labels("#222222", (0.5, 1))
    _view = _plot(qtbot, labels)  # kept: the plot's scene owns the labels
    labels.setLabels([(1.0, 2.0, "2")])
    calls = []
    labels.prepareGeometryChange = lambda: calls.append(1)
    labels.setLabels([(1.0, 2.0, "2")])
    assert calls == []
    labels.setLabels([(1.0, 3.0, "3")])
    labels.setLabels([])
    assert calls == [1, 1] and labels.boundingRect().isEmpty()
