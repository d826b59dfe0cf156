"""Read queries for the console and the CLI. They return plain frozen dataclasses (safe across threads)
and load media eagerly: a conversation costs the same number of statements at 10 or 10,000 messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from engine.db.models import Chat, ChatMedia, Contact, MediaStatus


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

    @classmethod
    def of(cls, m: ChatMedia) -> MediaView:
        meta = m.meta or {}
        return cls(id=m.id, status=str(m.processing_status), mime=m.type, name=m.name, size=m.size, path=m.path,
                   location=m.location, error=meta.get("error"), reason=meta.get("reason"),
                   attempts=int(meta.get("attempts", 0) or 0), wa_media_id=m.wa_media_id)


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


def conversation(s: Session, contact_id: int, *, limit: int | None = None) -> list[MessageView]:
    """A contact's messages, oldest first, media joined in the same statement."""
    q = (select(Chat).options(joinedload(Chat.media)).where(Chat.contact_id == contact_id)
         .order_by(Chat.created_at.desc(), Chat.id.desc()))
    if limit:
        q = q.limit(limit)
    rows = s.execute(q).scalars().all()
    out = [MessageView(id=c.id, wamid=c.wamid, direction=c.direction, type=c.type, body=c.body, status=c.status,
                       created_at=c.created_at, meta=c.meta or {}, media=MediaView.of(c.media) if c.media else None)
           for c in rows]
    out.reverse()
    return out


def media(s: Session, media_id: int) -> MediaView | None:
    m = s.get(ChatMedia, media_id)
    return MediaView.of(m) if m else None


def chat_summaries(s: Session, *, search: str | None = None, limit: int = 500, offset: int = 0) -> list[ChatSummary]:
    """One row per contact, most recent conversation first, in two statements whatever the page size."""
    last = (select(Chat.contact_id.label("cid"), func.max(Chat.id).label("last_id"), func.count().label("n"),
                   func.sum((ChatMedia.processing_status == MediaStatus.FAILED).cast(int)).label("failed"))
            .outerjoin(ChatMedia, ChatMedia.id == Chat.media_id)
            .where(Chat.contact_id.is_not(None)).group_by(Chat.contact_id).subquery())
    q = (select(Contact.id, Contact.name, Contact.wa_id, Chat.created_at, Chat.body, Chat.type, last.c.n,
                last.c.failed)
         .join(last, last.c.cid == Contact.id).join(Chat, Chat.id == last.c.last_id))
    if search:
        like = f"%{search}%"
        q = q.where(or_(Contact.name.ilike(like), Contact.wa_id.ilike(like)))
    q = q.order_by(Chat.created_at.desc(), Contact.id.desc()).limit(limit).offset(offset)
    return [ChatSummary(contact_id=r[0], name=r[1], wa_id=r[2], last_at=r[3], last_preview=r[4], last_type=r[5],
                        messages=int(r[6] or 0), failed_media=int(r[7] or 0)) for r in s.execute(q)]


def failed_media_ids(s: Session) -> list[int]:
    return list(s.execute(select(ChatMedia.id).where(ChatMedia.processing_status == MediaStatus.FAILED)).scalars())
