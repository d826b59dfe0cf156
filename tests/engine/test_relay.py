"""Status events between processes on PostgreSQL: each goes out with the commit of the change that makes it true.

Two buses on one real PostgreSQL database stand for two processes: one makes the changes, the other listens
as `mediadesk events` or an attached console would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from mediadesk_testkit import wait_until

from engine.db import Database
from engine.events import EventBus, MediaStatusChanged
from engine.media.state import MediaStates, insert_new
from engine.relay import EventPublisher, EventSubscriber, PostgresNotify, encode

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class Heard:
    """What another process's bus receives."""

    def __init__(self, database: Database) -> None:
        self.bus = EventBus()
        self.events: list[MediaStatusChanged] = []
        self._lock = threading.Lock()
        self.bus.subscribe(self._on_event)
        self.subscriber = EventSubscriber(self.bus, PostgresNotify(database.backend.dsn))

    def _on_event(self, event: object) -> None:
        if isinstance(event, MediaStatusChanged):
            with self._lock:
                self.events.append(event)

    def statuses(self, media_id: int) -> list[str]:
        with self._lock:
            return [str(e.status) for e in self.events if e.media_id == media_id]


@pytest.fixture
def heard(database: Database) -> Iterator[Heard]:
    other = Heard(database)
    other.subscriber.start()
    assert other.subscriber.ready.wait(10), "the listening side did not start"
    yield other
    other.subscriber.stop()


def new_media(database: Database, wa_media_id: str) -> int:
    with database.engine.begin() as conn:
        return insert_new(conn, name="photo.jpg", mime="image/jpeg", wa_media_id=wa_media_id, sha256=None)


def test_a_change_is_heard_from_a_process_that_sends_nothing_after_its_commit(database: Database,
                                                                              heard: Heard) -> None:
    # No EventPublisher runs here: as for a worker killed with -9 between its commit and anything after it.
    states = MediaStates(database, EventBus())
    mid = new_media(database, "WA-KILLED")
    claim = states.claim(mid, download_timeout=60)
    assert claim is not None
    states.complete(claim, path="a/b.jpg", location="local", size=3, mime="image/jpeg", sha256_hex="00",
                    duration_ms=5)
    wait_until(lambda: heard.statuses(mid) == ["processing", "completed"], timeout=5,
               what="both changes heard by the other process")


def test_an_event_that_goes_with_its_commit_is_not_sent_again(database: Database, heard: Heard) -> None:
    bus = EventBus()
    local: list[MediaStatusChanged] = []
    bus.subscribe(lambda e: local.append(e) if isinstance(e, MediaStatusChanged) else None)
    publisher = EventPublisher(bus, PostgresNotify(database.backend.dsn)).start()
    try:
        states = MediaStates(database, bus)
        mid = new_media(database, "WA-ONCE")
        claim = states.claim(mid, download_timeout=60)
        assert claim is not None
        # Progress changes no row: it has no transaction to go with, so the publisher sends it.
        states.progress(claim, bytes_done=1, bytes_total=3)
        states.fail(claim, error="Meta said no", reason="graph_error")
        wait_until(lambda: heard.statuses(mid) == ["processing", "processing", "failed"], timeout=5,
                   what="claim, progress and failure heard once each")
        (failed,) = [e for e in heard.events if e.status == "failed"]
        assert (failed.error, failed.reason) == ("Meta said no", "graph_error")
        # This process's own subscribers heard each change once, as before.
        assert [str(e.status) for e in local] == ["processing", "processing", "failed"]
        # Owner's commands that touch many media share them in one transaction too.
        assert states.retry([mid]) == [mid]
        wait_until(lambda: heard.statuses(mid)[-1:] == ["pending"], timeout=5, what="the retry heard")
    finally:
        publisher.stop()
    assert heard.statuses(mid) == ["processing", "processing", "failed", "pending"]


def test_a_change_that_rolls_back_is_never_heard(database: Database, heard: Heard) -> None:
    backend = database.backend
    gone, kept = MediaStatusChanged(1, "completed"), MediaStatusChanged(2, "completed")
    with pytest.raises(RuntimeError), database.engine.begin() as conn:
        backend.notify_with_commit(conn, [encode(gone, "elsewhere")])
        raise RuntimeError("the transition failed")
    with database.engine.begin() as conn:
        backend.notify_with_commit(conn, [encode(kept, "elsewhere"), encode(gone, "elsewhere")])
    wait_until(lambda: len(heard.events) == 2, timeout=5, what="the committed pair")
    assert [e.media_id for e in heard.events] == [2, 1]  # in the order they were given


def test_a_process_does_not_hear_its_own_events_back(database: Database) -> None:
    own = Heard(database)
    own.subscriber.start()
    assert own.subscriber.ready.wait(10)
    try:
        states = MediaStates(database, own.bus)
        mid = new_media(database, "WA-OWN")
        assert states.claim(mid, download_timeout=60) is not None
        other = MediaStates(database, EventBus())
        other.release([mid])  # another process's change: heard
        wait_until(lambda: own.statuses(mid) == ["processing", "pending"], timeout=5,
                   what="the other process's release")
    finally:
        own.subscriber.stop()
    assert own.statuses(mid) == ["processing", "pending"]
