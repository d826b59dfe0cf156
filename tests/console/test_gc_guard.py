"""The GUI thread's collector: young collections every tick, full ones every minute but not while a view scrolls
(within a bound)."""

from __future__ import annotations

from typing import Any

import pytest

from console import gc_guard
from console.gc_guard import FULL_EVERY_S, MAX_WAIT_S, REST_S, GuiThreadGarbageCollector

FULL_EVERY = int(FULL_EVERY_S)  # ticks of a second in these tests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Parts = tuple[GuiThreadGarbageCollector, Clock, list[int]]


@pytest.fixture
def collector(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Parts:
    clock = Clock()
    monkeypatch.setattr(gc_guard.time, "monotonic", clock)
    monkeypatch.setattr(gc_guard, "_busy_until", 0.0)
    generations: list[int] = []
    monkeypatch.setattr(gc_guard.gc, "collect", lambda generation=2: generations.append(generation) or 0)
    return GuiThreadGarbageCollector(), clock, generations


def tick(c: GuiThreadGarbageCollector, clock: Clock, n: int) -> None:
    for _ in range(n):
        clock.now += 1.0
        c._collect()


def test_a_full_collection_runs_every_minute_when_nothing_scrolls_young_ones_between(collector: Parts) -> None:
    c, clock, generations = collector
    tick(c, clock, 2 * FULL_EVERY)
    assert generations.count(2) == 2
    assert generations[FULL_EVERY - 1] == 2 and generations[2 * FULL_EVERY - 1] == 2
    assert set(generations[:FULL_EVERY - 1]) == {0}


def test_young_collections_come_several_times_a_second_so_that_each_stays_small(qtbot: Any, collector: Parts) -> None:
    c, _clock, generations = collector
    c._timer.start()  # the timer alone: start() would also switch the process's automatic collection off
    try:
        qtbot.waitUntil(lambda: len(generations) >= 3, timeout=1000)  # on the real clock: 3 ticks within a second
    finally:
        c._timer.stop()
    assert set(generations) == {0}


def test_while_a_view_scrolls_the_full_collection_waits_for_it_to_rest(collector: Parts) -> None:
    c, clock, generations = collector
    for _ in range(FULL_EVERY + 20):  # scrolling through every tick
        gc_guard.scrolled()
        tick(c, clock, 1)
    assert 2 not in generations, "no full collection under the scroll"
    clock.now += REST_S + 0.1
    c._collect()
    assert generations[-1] == 2, "the first tick after it rests collects in full"


def test_a_scroll_that_never_rests_still_gets_a_full_collection_in_bounded_time(collector: Parts) -> None:
    c, clock, generations = collector
    for _ in range(int(MAX_WAIT_S) + 2):
        gc_guard.scrolled()
        tick(c, clock, 1)
    assert generations.count(2) == 1
    assert generations.index(2) == int(MAX_WAIT_S) - 1, "not before the bound, and at it"
