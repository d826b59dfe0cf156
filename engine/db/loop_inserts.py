"""A server database's text-only batches, stored from the listener's own event loop (psycopg's async connection).

Most of what reaches a busy number is text from people who wrote before: one multi-row INSERT. Handed to a writer
thread, each such batch cost two thread wake-ups and the GIL passed back and forth between the loop and the
thread (eight futex calls a webhook under strace), and the writer thread's CPU per webhook was about two thirds
of the loop's. On the loop, the INSERT is sent, the loop goes on reading requests while the server works, and
the answer arrives as one more readable socket. Everything else (media, statuses, new contacts) still goes to the
writer thread, one batch at a time either way, so the order of arrival decides as before.

Not on Windows: psycopg's async connection needs a selector event loop there.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def available() -> bool:
    return sys.platform != "win32"


class LoopInserts:
    """One async connection, opened on first use by the loop that uses it (a new listener's loop opens its own)."""

    def __init__(self, dsn: str, connect_timeout: float) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = -1

    async def insert(self, sql: str, params: list[Any], generation: int) -> set[str]:
        """Run the INSERT in autocommit (durable when it returns); the wamids it returned. Raises what psycopg
        raises, after letting the connection go: the next batch opens a new one."""
        import psycopg

        loop = asyncio.get_running_loop()
        if self._conn is not None and (self._loop is not loop or self._generation != generation or self._conn.closed):
            self.drop()  # another loop's, or from before a restore or migration (its prepared plans are stale)
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True,
                                                               connect_timeout=max(1, int(self._timeout)))
            self._loop, self._generation = loop, generation
        try:
            cursor = psycopg.AsyncRawCursor(self._conn)
            await cursor.execute(sql, params)
            return {row[0] for row in await cursor.fetchall()}
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        """Let the connection go, from any thread (libpq's own close: no round trip, no loop needed)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                conn.pgconn.finish()
            except Exception as exc:  # already broken: nothing more to let go of
                log.debug("closing the listener's database connection: %s", exc)
