"""The task engine's registrations: downloads at high priority, the health check every 5 minutes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from mediadesk_testkit import build_config

from engine.errors import ConfigError
from engine.tasks import MEDIA_PRIORITY, TaskQueue


def _queue(data_dir: Path, **changes: object) -> TaskQueue:
    return TaskQueue(build_config(data_dir, **changes), download=lambda _id: None, health_check=lambda: None)


def test_health_check_is_a_periodic_task_every_5_minutes_by_default(data_dir: Path) -> None:
    q = _queue(data_dir, health_every_min=5)
    periodic = [t for t in q.huey._registry._periodic_tasks if t.__name__ == "health_check"]
    assert len(periodic) == 1
    validate = periodic[0]().validate_datetime
    assert validate(dt.datetime(2026, 11, 26, 9, 5)) and not validate(dt.datetime(2026, 11, 26, 9, 6))


def test_health_interval_zero_registers_no_periodic_task(data_dir: Path) -> None:
    assert not _queue(data_dir, health_every_min=0).huey._registry._periodic_tasks


def test_downloads_are_queued_at_high_priority(data_dir: Path) -> None:
    q = _queue(data_dir)
    q.enqueue_download(41)
    (task,) = q.huey.pending()
    assert task.priority == MEDIA_PRIORITY and task.args == (41,)


@pytest.mark.parametrize("bad", [7, -1, 61])
def test_a_health_interval_that_does_not_divide_an_hour_is_refused(data_dir: Path, bad: int) -> None:
    with pytest.raises(ConfigError, match="health check interval"):
        build_config(data_dir, health_every_min=bad)
