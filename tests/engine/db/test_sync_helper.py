"""The forked WAL sync helper: real fork, real pipes, real fdatasync, failures answered as errno."""

from __future__ import annotations

import errno
import os
import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.db.sync_helper import SyncHelper, can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="the helper needs os.fork (the thread syncs elsewhere)")


def answers(helper: SyncHelper, timeout: float = 5.0) -> list[OSError | None]:
    ready, _, _ = select.select([helper.fileno()], [], [], timeout)
    assert ready, "the helper did not answer"
    return helper.answers()


@pytest.fixture
def wal(tmp_path: Path) -> Path:
    path = tmp_path / "mediadesk.db-wal"
    path.write_bytes(b"frames" * 1000)
    return path


@pytest.fixture
def helper(wal: Path) -> Iterator[SyncHelper]:
    h = SyncHelper(wal)
    yield h
    h.close()


def test_a_sync_is_answered_and_a_missing_wal_counts_as_synced(helper: SyncHelper, wal: Path) -> None:
    helper.request()
    assert answers(helper) == [None]
    helper.forget()
    wal.unlink()  # SQLite checkpointed it into the database and removed it
    helper.request()
    helper.request()
    got = answers(helper)
    got += [] if len(got) == 2 else answers(helper)
    assert got == [None, None]


def test_a_failed_sync_comes_back_as_its_errno_and_forget_reopens(tmp_path: Path) -> None:
    link = tmp_path / "db-wal"
    link.symlink_to("/dev/null")  # fdatasync on a character device: EINVAL
    helper = SyncHelper(link)
    try:
        helper.request()
        (error,) = answers(helper)
        assert isinstance(error, OSError) and error.errno == errno.EINVAL
        link.unlink()
        link.write_bytes(b"a real file now")
        helper.request()  # the descriptor it keeps is still /dev/null's
        (error,) = answers(helper)
        assert isinstance(error, OSError) and error.errno == errno.EINVAL
        helper.forget()
        helper.request()
        assert answers(helper) == [None]
    finally:
        helper.close()


def test_the_helper_holds_none_of_the_parents_files(tmp_path: Path, wal: Path) -> None:
    kept = open(tmp_path / "a lease lock", "w")  # noqa: SIM115 - open across the fork on purpose
    try:
        helper = SyncHelper(wal)
        helper.request()
        assert answers(helper) == [None]
        folder = f"/proc/{helper.pid}/fd"
        held = sorted(os.readlink(f"{folder}/{fd}") for fd in os.listdir(folder))
        assert held == sorted([str(wal), *(p for p in held if p.startswith("pipe:"))]) and len(held) == 3
        pid = helper.pid
        helper.close()
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:  # a zombie keeps its /proc entry
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/{pid}")  # exited and reaped
    finally:
        kept.close()


def test_a_killed_helper_reads_as_closed_and_refuses_requests(helper: SyncHelper) -> None:
    os.kill(helper.pid, signal.SIGKILL)
    assert answers(helper) == [] and helper.closed
    os.waitpid(helper.pid, 0)  # gone for good: an exiting process closes its pipes one after the other
    with pytest.raises(OSError) as caught:
        helper.request()
    assert caught.value.errno == errno.EIO
