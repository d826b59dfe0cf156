"""Read queries for the console and the CLI. They return plain frozen dataclasses (safe across threads).

Both the chat list and a conversation cost a fixed number of statements, whatever their size: the
chat list pages over a covering index, a conversation pages backwards from its newest message in one
Core statement (no ORM identity map to fill, media joined in the same row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from engine.db.models import Chat, ChatMedia, Contact, MediaStatus, utcnow
from engine.media.reasons import FailureReason


def download_failed() -> Any:
    """Failed to download: a media the owner deleted is failed with reason "deleted" (its message stays), and
    counts in no failure figure (the chat list's badge, health)."""
    reason = ChatMedia.meta["reason"].as_string()
    return (ChatMedia.processing_status == MediaStatus.FAILED) & or_(reason.is_(None),
                                                                    reason != str(FailureReason.DELETED))

DEFAULT_PAGE = 200


@dataclass(frozen=True)
class MediaView:
    id: int
    status: str
    mime: str | None
    name: str | None
    size: int | None
    path: str | None
    location: str
    error: str | None
    reason: str | None
    attempts: int
    wa_media_id: str | None
    removed_at: str | None = None  # ISO time the retention policy removed the file (status removed)
    thumbnail: str | None = None  # key of the stored thumbnail (engine.media.thumbnails), same storage as `path`

    @classmethod
    def of(cls, m: ChatMedia) -> MediaView:
        return cls.from_row(m.id, m.processing_status, m.type, m.name, m.size, m.path, m.location, m.meta,
                            m.wa_media_id)

    @classmethod
    def from_row(cls, id: int, status: Any, mime: str | None, name: str | None, size: int | None,  # noqa: A002
                 path: str | None, location: str | None, meta: dict[str, Any] | None,
                 wa_media_id: str | None) -> MediaView:
        meta = meta or {}
        removed = meta.get("removed")
        return cls(id=id, status=str(status), mime=mime, name=name, size=size, path=path,
                   location=location or "local", error=meta.get("error"), reason=meta.get("reason"),
                   attempts=int(meta.get("attempts", 0) or 0), wa_media_id=wa_media_id,
                   removed_at=removed.get("at") if isinstance(removed, dict) else None,
                   thumbnail=meta.get("thumbnail"))


@dataclass(frozen=True)
class MessageView:
    id: int
    wamid: str
    direction: str
    type: str
    body: str | None
    status: str | None
    created_at: datetime
    meta: dict[str, Any]
    media: MediaView | None


@dataclass(frozen=True)
class ChatSummary:
    contact_id: int
    name: str | None
    wa_id: str
    last_at: datetime | None
    last_preview: str | None
    last_type: str | None
    messages: int
    failed_media: int
    unread: int = 0


_MESSAGE_COLUMNS = (
    Chat.id, Chat.wamid, Chat.direction, Chat.type, Chat.body, Chat.status, Chat.created_at, Chat.meta,
    ChatMedia.id, ChatMedia.processing_status, ChatMedia.type, ChatMedia.name, ChatMedia.size, ChatMedia.path,
    ChatMedia.location, ChatMedia.meta, ChatMedia.wa_media_id,
)


def _message_of(r: Any) -> MessageView:
    media = MediaView.from_row(*r[8:17]) if r[8] is not None else None
    return MessageView(id=r[0], wamid=r[1], direction=r[2], type=r[3], body=r[4], status=r[5], created_at=r[6],
                       meta=r[7] or {}, media=media)


def conversation(s: Session, contact_id: int, *, limit: int | None = DEFAULT_PAGE,
                 before: tuple[datetime, int] | None = None,
                 after: tuple[datetime, int] | None = None) -> list[MessageView]:
    """A page of a contact's messages, oldest first, media joined in the same single statement.

    Without `before`/`after` it is the newest `limit` messages; `before=(created_at, id)` pages back
    into history (scrolling up), `after=` picks up what arrived since (live updates). `limit=None`
    reads everything (exports, the CLI).
    """
    q = select(*_MESSAGE_COLUMNS).outerjoin(ChatMedia, ChatMedia.id == Chat.media_id).where(
        Chat.contact_id == contact_id)
    if before is not None:
        q = q.where(tuple_(Chat.created_at, Chat.id) < tuple_(*before))
    if after is not None:
        q = q.where(tuple_(Chat.created_at, Chat.id) > tuple_(*after))
        q = q.order_by(Chat.created_at, Chat.id)
        return [_message_of(r) for r in s.execute(q.limit(limit) if limit else q)]
    q = q.order_by(Chat.created_at.desc(), Chat.id.desc())
    rows = [_message_of(r) for r in s.execute(q.limit(limit) if limit else q)]
    rows.reverse()
    return rows


def media(s: Session, media_id: int) -> MediaView | None:
    r = s.execute(select(*_MESSAGE_COLUMNS[8:]).where(ChatMedia.id == media_id)).first()
    return MediaView.from_row(*r) if r else None


def media_many(s: Session, media_ids: list[int]) -> dict[int, MediaView]:
    """Several media in one statement (a burst of status events becomes one read)."""
    if not media_ids:
        return {}
    rows = s.execute(select(*_MESSAGE_COLUMNS[8:]).where(ChatMedia.id.in_(media_ids)))
    return {r[0]: MediaView.from_row(*r) for r in rows}


def _with_search(q: Any, search: str | None) -> Any:
    """Only chats whose contact's name or number contains `search` (the chat list's search box)."""
    if not search or not search.strip():
        return q
    like = f"%{search.strip()}%"
    return q.where(Chat.contact_id.in_(select(Contact.id).where(or_(Contact.name.ilike(like),
                                                                       Contact.wa_id.ilike(like)))))


def count_chats(s: Session, *, search: str | None = None) -> int:
    """How many rows `chat_summaries` has for `search`: one per contact with at least one message.

    One statement over the (contact_id, created_at) index (SQLite counts the distinct keys without
    touching the table), so the chat list can size itself for 100,000 chats before any page is read.
    """
    contacts = _with_search(select(Chat.contact_id).where(Chat.contact_id.is_not(None)), search)
    return int(s.execute(select(func.count(func.distinct(contacts.subquery().c.contact_id)))).scalar_one())


def chat_summaries(s: Session, *, search: str | None = None, limit: int = 500, offset: int = 0) -> list[ChatSummary]:
    """One row per contact, most recent conversation first, in two statements whatever the page size.

    The first statement orders contacts by their newest message using only the (contact_id,
    created_at) index; the second fills in the page: last message, counts, unread and failed media,
    each a correlated lookup bounded by the page, so page 500 costs what page 1 costs.
    """
    order = (select(Chat.contact_id.label("cid"), func.max(Chat.created_at).label("last_at"))
             .where(Chat.contact_id.is_not(None)).group_by(Chat.contact_id))
    order = _with_search(order, search)
    order = order.order_by(func.max(Chat.created_at).desc(), Chat.contact_id.desc()).limit(limit).offset(offset)
    page = [(r.cid, r.last_at) for r in s.execute(order)]
    if not page:
        return []
    ids = [cid for cid, _ in page]
    last_id = (select(Chat.id).where(Chat.contact_id == Contact.id)
               .order_by(Chat.created_at.desc(), Chat.id.desc()).limit(1).scalar_subquery())
    n = select(func.count()).where(Chat.contact_id == Contact.id).scalar_subquery()
    unread = select(func.count()).where(
        Chat.contact_id == Contact.id, Chat.direction == "in",
        or_(Contact.last_read_at.is_(None), Chat.created_at > Contact.last_read_at)).scalar_subquery()
    failed = (select(func.count()).select_from(Chat).join(ChatMedia, ChatMedia.id == Chat.media_id)
              .where(Chat.contact_id == Contact.id, download_failed())
              .scalar_subquery())
    details = select(Contact.id, Contact.name, Contact.wa_id, last_id.label("last_id"), n, unread,
                     failed).where(Contact.id.in_(ids)).subquery()
    q = (select(details, Chat.created_at, Chat.body, Chat.type)
         .join(Chat, Chat.id == details.c.last_id))
    by_id = {r[0]: r for r in s.execute(q)}
    out = []
    for cid, _ in page:
        r = by_id.get(cid)
        if r is None:  # deleted between the two statements
            continue
        out.append(ChatSummary(contact_id=cid, name=r[1], wa_id=r[2], last_at=r[7], last_preview=r[8],
                               last_type=r[9], messages=int(r[4] or 0), unread=int(r[5] or 0),
                               failed_media=int(r[6] or 0)))
    return out


def mark_read(s: Session, contact_id: int, *, at: datetime | None = None) -> None:
    """The owner has seen this chat: its unread count starts again from now."""
    s.execute(update(Contact).where(Contact.id == contact_id).values(last_read_at=at or utcnow()))


def failed_media_ids(s: Session) -> list[int]:
    return list(s.execute(select(ChatMedia.id).where(ChatMedia.processing_status == MediaStatus.FAILED)).scalars())


__all__ = ["ChatSummary", "MediaView", "MessageView", "chat_summaries", "conversation", "count_chats",
           "download_failed", "failed_media_ids", "mark_read", "media", "media_many"]
