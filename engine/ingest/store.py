"""Writing parsed webhooks to the database: one transaction per batch, idempotent by wamid."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from engine.db.models import Chat, Contact, Workspace, utcnow
from engine.db.session import Database
from engine.ingest.parse import MessageRecord, ParsedWebhook, StatusRecord
from engine.media import state as media_state

log = logging.getLogger(__name__)

# The hot path (one INSERT per text message) goes to the DBAPI cursor of the batch's connection, inside the
# same transaction: at thousands of webhooks a second, SQLAlchemy's statement building and execution context
# cost three times what SQLite itself does (72 vs 26 us a message, batches of 3). The SQL is the backend's
# (`insert_chat_sql`): its placeholders and time format differ by database.
# Rows that stand in for a message whose content had not come yet: a status seen before its echo, a history
# media before the webhook carrying its id. The content, when it comes, fills them in.
STAND_INS = frozenset({"outbound", "media_placeholder"})


# Later statuses win; "failed" can follow any of them.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 5}

READ = ("read", "played")  # a history message the owner already read in the Business app

# Rows per multi-row INSERT: PostgreSQL binds at most 65,535 parameters (9 a row).
MAX_ROWS = 1000


@dataclass
class IngestResult:
    """What one webhook body changed."""

    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    media_ids: list[int] = field(default_factory=list)  # new chat_media rows waiting for a download
    failed_media_ids: list[int] = field(default_factory=list)  # media Meta already said cannot come


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


@dataclass
class TextBatch:
    """Text messages for one multi-row INSERT (`sql`) that returns the wamids it stored."""

    sql: str
    rows: list[tuple[tuple, IngestResult]]  # each message's parameters, and the result of the webhook it came in
    results: list[IngestResult]  # one per webhook of the batch

    def params(self) -> list[Any]:
        # In wamid order: two listeners inserting the same wamids in different orders would deadlock.
        return [v for params, _ in sorted(self.rows, key=lambda row: row[0][2]) for v in params]

    def count(self, stored: set[str]) -> None:
        """Count each message stored or a duplicate, from the wamids the INSERT returned: the first of a wamid
        is stored, as row by row."""
        for params, result in self.rows:
            if params[2] in stored:
                stored.discard(params[2])
                result.messages += 1
            else:
                result.duplicates += 1


class WebhookStore:
    """Stores parsed webhooks. Caches workspace and contact ids so a text message costs one INSERT.

    Keeps one connection open (checking one out of the pool per batch cost a third of a batch), with the
    backend's maintenance (SQLite: WAL checkpoints on a thread of their own) while it is open. `reset()` closes
    both and forgets cached ids, for maintenance that replaces or reshapes the database. A lock makes `store()`
    and `reset()` safe to call from different threads.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.backend = db.backend
        self._insert = db.backend.insert  # insert-or-ignore of this dialect
        self._workspaces: dict[str, int] = {}
        self._contacts: _LRU = _LRU(50_000)
        self._conn: Connection | None = None
        self._maintenance: Any = None
        self._lock = threading.Lock()
        self._wal = db.backend.wal_sync()  # None where every commit is durable by itself
        self.generation = 0  # counts reopenings: whoever syncs the WAL file on its own reopens it too
        # On a server a statement is a round trip: a batch's text messages wait here for one multi-row INSERT,
        # sent before any other statement that touches chats (so that order decides as it would row by row).
        self._rows: list[tuple[tuple, IngestResult]] | None = [] if db.backend.store_off_loop else None

    def reset(self) -> None:
        """Close the connection and forget cached ids (a restore, migration or rollback changed the database)."""
        with self._lock:
            self._reset()

    def _open(self) -> None:
        self._conn = self.db.engine.connect()
        self._maintenance = self.backend.prepare_writer(self._conn)

    def _reset(self) -> None:
        self._workspaces.clear()
        self._contacts.clear()
        if self._maintenance is not None:
            self._maintenance.stop()
            self._maintenance = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._wal is not None:
            self._wal.close()
        self.generation += 1

    @property
    def wal_path(self) -> Path | None:
        """The SQLite WAL file that `sync()` makes durable; None where commits are durable by themselves."""
        return self._wal.path if self._wal is not None else None

    def store(self, parsed: list[ParsedWebhook], *, sync: bool = True) -> list[IngestResult]:
        """Store several bodies in one transaction; all or nothing. Durable on return, unless `sync` is False:
        then only once `sync()` has returned after it."""
        with self._lock:
            if self._conn is None:
                self._open()
            conn = self._conn
            try:
                results = self._store_texts_alone(conn, parsed)
                if results is None:
                    with conn.begin():
                        cursor = self.backend.cursor(conn.connection.driver_connection)
                        results = [self._store_one(conn, cursor, p) for p in parsed]
                        self._insert_rows(cursor)
            except Exception:
                if self._rows:
                    self._rows.clear()
                self._reset()  # ids cached inside the rolled-back transaction are gone
                raise
        if sync:
            self.sync()
        return results

    def sync(self) -> None:
        """Make every batch committed so far durable (one fdatasync of the WAL). Safe from another thread
        while `store()` runs; a server database's commits are durable already."""
        if self._wal is not None:
            self._wal.sync()

    def text_batch(self, parsed: list[ParsedWebhook]) -> TextBatch | None:
        """A batch of nothing but new text messages from known contacts, as one multi-row INSERT: on a server a
        transaction of its own, one round trip. None when the batch needs more (`store()`, the usual way).

        Only reads the cached ids; call it where no `store()` runs meanwhile (the listener's writer asks between
        batches), so that every id it uses is committed."""
        if self._rows is None:
            return None
        rows: list[tuple[tuple, IngestResult]] = []
        results = []
        for p in parsed:
            if p.statuses:
                return None
            result = IngestResult()
            for msg in p.messages:
                if msg.media is not None or msg.direction != "in" or msg.target_wamid or msg.status in READ:
                    return None
                wid = self._workspaces.get(msg.phone_number_id)
                cid = self._known_contact(wid, msg.wa_id, msg.contact_name) if wid is not None else None
                if cid is None:
                    return None
                rows.append((self._chat_params(wid, cid, msg), result))
            results.append(result)
        if not rows or len(rows) > MAX_ROWS:
            return None
        return TextBatch(self.backend.insert_chats_sql(len(rows)), rows, results)

    def _store_texts_alone(self, conn: Connection, parsed: list[ParsedWebhook]) -> list[IngestResult] | None:
        batch = self.text_batch(parsed)
        if batch is None:
            return None
        with self.backend.one_statement(conn) as cursor:
            cursor.execute(batch.sql, batch.params())
            batch.count({r[0] for r in cursor.fetchall()})
        return batch.results

    def _chat_params(self, wid: int, cid: int, msg: MessageRecord) -> tuple:
        outbound_status = msg.status if msg.direction == "out" else None
        return (wid, cid, msg.wamid, msg.direction, msg.type, msg.body, json.dumps(msg.meta),
                self.backend.sql_time(msg.created_at), outbound_status)

    def _store_one(self, conn: Connection, cursor: Any, parsed: ParsedWebhook) -> IngestResult:
        result = IngestResult()
        for msg in parsed.messages:
            self._message(conn, cursor, msg, result)
        if parsed.statuses:
            self._insert_rows(cursor)
        for st in parsed.statuses:
            self._status(conn, st, result)
        return result

    def _insert_rows(self, cursor: Any) -> None:
        """Send the text messages waiting for a multi-row INSERT; the first of a wamid is stored, as row by row."""
        if not self._rows:
            return
        rows = self._rows[:]
        self._rows.clear()
        for start in range(0, len(rows), MAX_ROWS):
            part = TextBatch(self.backend.insert_chats_sql(len(rows[start:start + MAX_ROWS])),
                             rows[start:start + MAX_ROWS], [])
            cursor.execute(part.sql, part.params())
            part.count({r[0] for r in cursor.fetchall()})

    def _workspace_id(self, conn: Connection, pnid: str, display: str | None, waba_id: str | None) -> int:
        wid = self._workspaces.get(pnid)
        if wid is not None:
            return wid
        wid = conn.execute(select(Workspace.id).where(Workspace.phone_number_id == pnid)).scalar()
        if wid is None:
            # A number seen for the first time gets its own workspace: no message is dropped for it.
            name = f"WhatsApp {display}" if display else f"WhatsApp {pnid}"
            wid = conn.execute(
                self._insert(Workspace).values(name=name, phone_number_id=pnid, waba_id=waba_id, settings={},
                                                created_at=utcnow())
                .on_conflict_do_nothing().returning(Workspace.id)
            ).scalar()
            if wid is None:
                wid = conn.execute(select(Workspace.id).where(Workspace.phone_number_id == pnid)).scalar_one()
            log.info("new workspace %s for phone number id %s", name, pnid)
        self._workspaces[pnid] = wid
        return wid

    def _known_contact(self, wid: int, wa_id: str, name: str | None) -> int | None:
        """The cached id of a contact whose name is unchanged (None: a statement is needed)."""
        cached = self._contacts.get((wid, wa_id))
        if cached is not None and (name is None or cached[1] == name):
            return cached[0]
        return None

    def _contact_id(self, conn: Connection, wid: int, wa_id: str, name: str | None) -> int:
        cid = self._known_contact(wid, wa_id, name)
        if cid is not None:
            return cid
        key = (wid, wa_id)
        row = conn.execute(
            self._insert(Contact).values(workspace_id=wid, wa_id=wa_id, name=name, created_at=utcnow())
            .on_conflict_do_nothing().returning(Contact.id)
        ).first()
        if row is None:
            cid = conn.execute(
                select(Contact.id).where(Contact.workspace_id == wid, Contact.wa_id == wa_id)
            ).scalar_one()
            if name:
                conn.execute(update(Contact).where(Contact.id == cid, Contact.name.is_distinct_from(name))
                             .values(name=name))
        else:
            cid = row[0]
        self._contacts.put(key, (cid, name))
        return cid

    def _message(self, conn: Connection, cursor: Any, msg: MessageRecord, result: IngestResult) -> None:
        wid = self._workspace_id(conn, msg.phone_number_id, msg.display_phone_number, msg.waba_id)
        cid = self._contact_id(conn, wid, msg.wa_id, msg.contact_name)
        if msg.target_wamid:
            self._insert_rows(cursor)  # the message it changes may be waiting there
            if self._apply_change(conn, msg):
                result.messages += 1
                return
        params = self._chat_params(wid, cid, msg)
        if msg.direction == "in" and msg.status in READ:
            # read in the Business app before the sync: not unread here
            conn.execute(update(Contact).where(Contact.id == cid, or_(Contact.last_read_at.is_(None),
                                                                      Contact.last_read_at < msg.created_at))
                         .values(last_read_at=msg.created_at))
        if msg.media is None and msg.direction == "in":
            if self._rows is not None:
                self._rows.append((params, result))
                return
            inserted = cursor.execute(self.backend.insert_chat_sql, params).rowcount  # the hot path: one statement
            result.messages += inserted
            result.duplicates += 1 - inserted
            return
        self._insert_rows(cursor)
        row = cursor.execute(self.backend.insert_chat_returning_sql, params).fetchone()
        chat_id = row[0] if row else self._fill_stand_in(conn, msg)
        if chat_id is None:
            result.duplicates += 1
            return
        result.messages += 1
        if msg.media is not None:
            self._add_media(conn, chat_id, msg, result)

    def _fill_stand_in(self, conn: Connection, msg: MessageRecord) -> int | None:
        """The id of a stand-in row now given its content, or None: a true duplicate."""
        row = conn.execute(select(Chat.id, Chat.type, Chat.media_id, Chat.meta.label("meta"))
                           .where(Chat.wamid == msg.wamid)).first()
        if row is None or row.type not in STAND_INS or row.type == msg.type:
            return None
        meta = {**msg.meta, **{k: v for k, v in (row.meta or {}).items() if k == "statuses"}}
        conn.execute(update(Chat).where(Chat.id == row.id)
                     .values(type=msg.type, body=msg.body, meta=meta, direction=msg.direction))
        return row.id if row.media_id is None else None

    def _apply_change(self, conn: Connection, msg: MessageRecord) -> bool:
        """An edit or a deletion made in the Business app, applied to its message; False when that is unknown."""
        row = conn.execute(select(Chat.id, Chat.meta.label("meta")).where(Chat.wamid == msg.target_wamid)).first()
        if row is None:
            return False  # kept as a message of its own: nothing Meta told us is lost
        meta = dict(row.meta or {})
        values: dict[str, Any] = {}
        if msg.type == "revoke":
            meta["revoked_at"] = msg.created_at.isoformat()
            values["body"] = None
        else:
            meta["edited_at"] = msg.created_at.isoformat()
            if msg.body is not None:
                values["body"] = msg.body
        conn.execute(update(Chat).where(Chat.id == row.id).values(meta=meta, **values))
        return True

    def _add_media(self, conn: Connection, chat_id: int, msg: MessageRecord, result: IngestResult) -> None:
        m = msg.media
        media_id = media_state.insert_new(conn, name=m.name, mime=m.mime, wa_media_id=m.wa_media_id,
                                          sha256=m.sha256, error=m.error, reason=m.reason)
        conn.execute(update(Chat).where(Chat.id == chat_id).values(media_id=media_id))
        (result.failed_media_ids if m.error else result.media_ids).append(media_id)

    def _status(self, conn: Connection, st: StatusRecord, result: IngestResult) -> None:
        wid = self._workspace_id(conn, st.phone_number_id, st.display_phone_number, st.waba_id)
        row = conn.execute(select(Chat.id, Chat.status, Chat.meta.label("meta")).where(Chat.wamid == st.wamid)).first()
        event = {"status": st.status, "at": st.created_at.isoformat(), **st.meta}
        if row is None:
            # A status for a message sent from elsewhere (another app, the phone): keep it as an outbound
            # placeholder so later statuses land on it and nothing Meta told us is lost.
            cid = self._contact_id(conn, wid, st.recipient_id, st.recipient_name) if st.recipient_id else None
            conn.execute(
                self._insert(Chat).values(
                    workspace_id=wid, contact_id=cid, wamid=st.wamid, direction="out", type="outbound",
                    body=None, meta={"statuses": [event]}, status=st.status, created_at=st.created_at,
                ).on_conflict_do_nothing()
            )
            result.statuses += 1
            return
        meta = dict(row.meta or {})
        history = list(meta.get("statuses", []))
        if event in history:
            result.duplicates += 1
            return
        meta["statuses"] = [*history, event]
        new_status = row.status
        if STATUS_RANK.get(st.status, 0) >= STATUS_RANK.get(row.status or "", 0):
            new_status = st.status
        conn.execute(update(Chat).where(Chat.id == row.id).values(status=new_status, meta=meta))
        result.statuses += 1
