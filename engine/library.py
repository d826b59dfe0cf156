"""`Library`: everything the console reads, as plain frozen dataclasses, each call one short session.

The console never opens a session or sees an ORM object: it asks the engine's `library` for chats, a
conversation's pages, media states, the last health report and the workspace, on a pool thread, and gets
values it may keep and pass between threads. (The CLI and the tests may still use `engine.db.queries`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine.db import queries
from engine.db.queries import ChatSummary, MediaView, MessageView
from engine.db.session import Database
from engine.dbfaults import SCHEMA, WORDS, classify, short
from engine.errors import DatabaseError, MediaDeskError, StorageError
from engine.events import EventBus
from engine.health import HealthReport, last_report
from engine.media_library import (
    MediaFilter,
    MediaItem,
    Progress,
    count_media,
    delete_media,
    media_items,
    media_page,
    reasons_in_use,
    save_media,
)
from engine.storage import Storage
from engine.workspace import WorkspaceInfo, load_workspace, save_workspace

if TYPE_CHECKING:
    from engine.maintenance import MaintenanceState

DEFAULT_PAGE = queries.DEFAULT_PAGE


def _no_storage(location: str) -> Storage:
    raise StorageError("no storage is open")


class Library:
    """Reads over one `Database` (plus the writes that belong to reading: a chat seen, the workspace, and the
    Media view's Delete), and the stored files behind it (`storage_for`, for Save to folder)."""

    def __init__(self, db: Database, *, storage_for: Callable[[str], Storage] = _no_storage,
                 events: EventBus | None = None, maintenance: Callable[[], MaintenanceState] | None = None,
                 schema_suspect: Callable[[], None] | None = None) -> None:
        self._db = db
        self._storage_for = storage_for
        self._events = events or EventBus()
        self._maintenance = maintenance
        self._schema_suspect = schema_suspect

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._translated(), self._db.session() as s:
            yield s

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Known faults reach the console in words: a read during maintenance (a rollback from another process,
        say) must say so, not show `no such column: chat_media.processing_status`."""
        try:
            yield
        except MediaDeskError:
            raise
        except Exception as exc:
            reason = classify(exc)
            state = self._maintenance() if self._maintenance is not None else None
            if reason == SCHEMA or (state is not None and state.maintenance):
                if reason == SCHEMA and self._schema_suspect is not None:
                    self._schema_suspect()  # the guard reads the revision now, not in up to a second
                raise DatabaseError(_maintenance_words(state)) from exc
            if reason is not None:
                raise DatabaseError(f"{WORDS.get(reason, reason)} ({short(exc)})") from exc
            raise

    # -- the chat list
    def count_chats(self, *, search: str | None = None) -> int:
        with self._session() as s:
            return queries.count_chats(s, search=search)

    def chat_page(self, *, search: str | None = None, limit: int = 500, offset: int = 0) -> list[ChatSummary]:
        with self._session() as s:
            return queries.chat_summaries(s, search=search, limit=limit, offset=offset)

    def chat_pages(self, pages: Iterable[int], *, page_size: int,
                   search: str | None = None) -> tuple[int, dict[int, list[ChatSummary]]]:
        """The count and the given pages (those within it), read in one session so they agree."""
        with self._session() as s:
            n = queries.count_chats(s, search=search)
            return n, {p: queries.chat_summaries(s, search=search, limit=page_size, offset=p * page_size)
                       for p in pages if p * page_size < n}

    # -- a conversation
    def conversation(self, contact_id: int, *, limit: int | None = DEFAULT_PAGE,
                     before: tuple[datetime, int] | None = None, after: tuple[datetime, int] | None = None,
                     mark_read: bool = False) -> list[MessageView]:
        """A page of the chat, oldest first (see `engine.db.queries.conversation` for before/after).

        `mark_read`: the owner is looking at the chat's newest messages, so its unread count starts again,
        in the same transaction; reading newer messages (`after=`) marks it only when some arrived.
        """
        with self._session() as s:
            rows = queries.conversation(s, contact_id, limit=limit, before=before, after=after)
            if mark_read and before is None and (rows or after is None):
                queries.mark_read(s, contact_id)
            return rows

    def media(self, media_ids: list[int]) -> dict[int, MediaView]:
        """Several media's current states in one statement (a burst of status events becomes one read)."""
        with self._session() as s:
            return queries.media_many(s, media_ids)

    # -- the Media view: every media of every chat
    def count_media(self, f: MediaFilter = MediaFilter()) -> int:  # noqa: B008 - frozen, so safe as a default
        with self._db.session() as s:
            return count_media(s, f)

    def media_page(self, f: MediaFilter = MediaFilter(), *, limit: int = 200, offset: int = 0,  # noqa: B008
                   below_id: int | None = None) -> list[MediaItem]:
        """Newest first, filtered in SQL; page `offset // limit` of what `count_media(f)` counts, or, given the
        last media id of the page before as `below_id`, the `limit` media after it (no walk over earlier rows)."""
        with self._db.session() as s:
            return media_page(s, f, limit=limit, offset=offset, below_id=below_id)

    def media_pages(self, pages: Iterable[int], *, page_size: int,
                    f: MediaFilter = MediaFilter()) -> tuple[int, dict[int, list[MediaItem]]]:  # noqa: B008
        """The count and the given pages (those within it), read in one session so they agree."""
        with self._db.session() as s:
            n = count_media(s, f)
            return n, {p: media_page(s, f, limit=page_size, offset=p * page_size)
                       for p in pages if p * page_size < n}

    def media_items(self, media_ids: Iterable[int]) -> dict[int, MediaItem]:
        with self._db.session() as s:
            return media_items(s, media_ids)

    def failure_reasons(self) -> list[str]:
        """The failure reasons some media carries now (stored keys; `FailureReason.words_for` says them)."""
        with self._db.session() as s:
            return reasons_in_use(s)

    def save_media(self, media_ids: Iterable[int], *, folder: Path,
                   progress: Progress | None = None) -> tuple[list[Path], list[int]]:
        """Copy stored files into `folder` (never overwriting); the files written and the media without a file."""
        return save_media(self._db, self._storage_for, media_ids, folder=folder, progress=progress)

    def delete_media(self, media_ids: Iterable[int]) -> list[int]:
        """Remove the files (never bytes another media shares); the messages stay, their media marked deleted."""
        return delete_media(self._db, self._storage_for, self._events, media_ids)

    # -- health and the workspace
    def last_health_report(self) -> HealthReport | None:
        """The stored result of the last health check (maybe run by `mediadesk serve`), if any."""
        with self._translated():
            return last_report(self._db)

    def workspace(self) -> WorkspaceInfo | None:
        with self._translated():
            return load_workspace(self._db)

    def save_workspace(self, info: WorkspaceInfo, *, graph_version: str) -> None:
        """Raises ConfigError when another workspace already has the phone number id."""
        with self._translated():
            save_workspace(self._db, info, graph_version=graph_version)


def _maintenance_words(state: MaintenanceState | None) -> str:
    if state is not None and state.maintenance:
        return (f"the database is in maintenance until it is migrated to revision {state.needed_revision} "
                f"(it is at {state.found_revision or 'none'}; Database > Migrate to latest)")
    return "the database is in maintenance: its schema is not the revision this version needs"


__all__ = ["ChatSummary", "Library", "MediaFilter", "MediaItem", "MediaView", "MessageView"]
