"""SQLAlchemy 2.0 models. Table and column names follow the original plan so its reports keep working."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Every constraint gets a name: SQLite batch migrations cannot drop or alter an unnamed one.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


intpk = Annotated[int, mapped_column(primary_key=True)]
created = Annotated[datetime, mapped_column(default=utcnow)]
json_dict = Annotated[dict[str, Any], mapped_column(JSON, default=dict)]


class MediaStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REMOVED = "removed"  # downloaded, then taken off this computer by the owner's retention policy


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200))
    phone_number_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    waba_id: Mapped[str | None] = mapped_column(String(64))
    graph_api_version: Mapped[str | None] = mapped_column(String(16))
    settings: Mapped[json_dict]
    created_at: Mapped[created]


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("workspace_id", "wa_id"),)

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    wa_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[created]
    last_read_at: Mapped[datetime | None]  # when the owner last opened the chat: the unread count's start

    workspace: Mapped[Workspace] = relationship()


class ChatMedia(Base):
    __tablename__ = "chat_media"

    id: Mapped[intpk]
    name: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(1024))
    type: Mapped[str | None] = mapped_column(String(255))  # MIME type
    size: Mapped[int | None]
    location: Mapped[str] = mapped_column(String(16), default="local")  # local | amazon
    processing_status: Mapped[MediaStatus] = mapped_column(
        String(16), default=MediaStatus.PENDING, server_default=MediaStatus.PENDING.value, index=True
    )
    processed_at: Mapped[datetime | None]
    meta: Mapped[json_dict] = mapped_column("metadata", JSON, default=dict)
    wa_media_id: Mapped[str | None] = mapped_column(String(128), index=True)
    sha256: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[created]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    attempts: Mapped[list[MediaAttempt]] = relationship(
        back_populates="media", cascade="all, delete-orphan", order_by="MediaAttempt.id"
    )


class Chat(Base):
    """One WhatsApp message (the plan calls messages 'chats')."""

    __tablename__ = "chats"
    __table_args__ = (Index("ix_chats_contact_id_created_at", "contact_id", "created_at"),)

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    wamid: Mapped[str] = mapped_column(String(255), unique=True)
    direction: Mapped[str] = mapped_column(String(8), default="in")  # in | out
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[json_dict] = mapped_column("metadata", JSON, default=dict)
    status: Mapped[str | None] = mapped_column(String(16))  # sent/delivered/read/failed (outbound)
    created_at: Mapped[created]
    media_id: Mapped[int | None] = mapped_column(ForeignKey("chat_media.id", ondelete="SET NULL"), index=True)

    contact: Mapped[Contact | None] = relationship()
    media: Mapped[ChatMedia | None] = relationship()


class MediaAttempt(Base):
    """One download attempt: the source of processing-time charts and failure reasons."""

    __tablename__ = "media_attempts"

    id: Mapped[intpk]
    media_id: Mapped[int] = mapped_column(ForeignKey("chat_media.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))  # completed | retry | failed
    error: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int | None]

    media: Mapped[ChatMedia] = relationship(back_populates="attempts")


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
