"""The plan's two monitoring-dashboard reports over today's rows, and `mediadesk stats --window today`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine.cli import main
from engine.db import ChatMedia, Database, MediaStatus
from engine.db.models import utcnow
from engine.plan_reports import FailureRow, StatusRow, plan_reports


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """main() sets up logging to the data dir; do not leave those handlers on the root logger."""
    yield
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_mediadesk", False):
            root.removeHandler(h)
            h.close()


@pytest.fixture
def today(database: Database) -> Database:
    now = utcnow().replace(microsecond=0)
    start = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=0))
    gone = "the media is no longer on WhatsApp's servers"
    with database.session() as s:
        s.add_all(ChatMedia(processing_status=MediaStatus.COMPLETED, created_at=start,
                            processed_at=start + timedelta(seconds=secs)) for secs in (4, 6))
        s.add_all([
            ChatMedia(processing_status=MediaStatus.FAILED, created_at=start, meta={"error": gone}),
            ChatMedia(processing_status=MediaStatus.FAILED, created_at=start, meta={"error": gone}),
            ChatMedia(processing_status=MediaStatus.FAILED, created_at=start, meta={"error": "the download timed out"}),
            ChatMedia(processing_status=MediaStatus.PENDING, created_at=start),
            # yesterday's: in neither report
            ChatMedia(processing_status=MediaStatus.FAILED, created_at=start - timedelta(days=1), meta={"error": "x"}),
        ])
    return database


def test_the_two_reports_count_today_only(today: Database) -> None:
    r = plan_reports(today)
    assert r.processing == [StatusRow("completed", 2, 5.0), StatusRow("failed", 3, None), StatusRow("pending", 1, None)]
    assert r.failures == [FailureRow("the media is no longer on WhatsApp's servers", 2),
                          FailureRow("the download timed out", 1)]


def test_stats_window_today_prints_the_plan_reports_first(today: Database, data_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--window", "today", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Media processing stats (today, since ")
    assert out[1].split() == ["processing_status", "count", "avg_process_time"]
    assert out[2].split() == ["completed", "2", "5.00", "s"]
    reasons = out.index("Failed media reasons (today)")
    assert out[reasons + 2].split()[0] == "2" and "no longer on WhatsApp" in out[reasons + 2]
    assert any(line.startswith("media total") for line in out[reasons:])  # the usual metrics follow
    assert main(["stats", "--window", "today", "--json", "--data-dir", str(data_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    # The metrics that follow count finished attempts (these rows were written without any) and the backlog.
    assert doc["plan_reports"]["failures"][0]["count"] == 2 and doc["window"] == "today" and doc["total"] == 1
    assert main(["stats", "--data-dir", str(data_dir)]) == 0
    assert "Media processing stats" not in capsys.readouterr().out  # without --window, as before
