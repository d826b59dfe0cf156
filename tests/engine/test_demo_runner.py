"""`mediadesk demo`'s headless part: the whole story reaches a real engine and every media settles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mediadesk_testkit import build_config, sql, wait_until

from engine.demo import DemoRunner
from engine.runtime import MediaDeskEngine


def test_the_demo_story_is_stored_whole_and_its_media_settle(tmp_path: Path,
                                                             start_engine: Callable[..., MediaDeskEngine]) -> None:
    runner = DemoRunner(build_config(tmp_path / "data"), pace=0, history_pace=0)
    try:
        eng = start_engine(runner.start())
        bodies = runner.bodies()
        runner.feed(eng.listener.address)
        assert runner.done.wait(30), "the demo's webhooks were not all delivered"
        assert (runner.sent, runner.failed) == (len(bodies), 0)
        db = eng.cfg.db_path
        statuses = sum(1 for b in bodies if "statuses" in b["entry"][0]["changes"][0]["value"])
        assert sql(db, "select count(*) from chats")[0][0] == len(bodies) - statuses
        # the owner's replies from the Business app: outbound, and read by the customer
        replies = sql(db, "select status from chats where direction = 'out'")
        assert replies and {r[0] for r in replies} == {"read"}
        wait_until(lambda: sql(db, "select count(*) from chat_media where processing_status in "
                                   "('pending', 'processing')")[0][0] == 0, timeout=60, what="demo media to settle")
        by_status = dict(sql(db, "select processing_status, count(*) from chat_media group by 1"))
        assert by_status["completed"] >= 10 and by_status["failed"] >= 4
    finally:
        runner.stop()
