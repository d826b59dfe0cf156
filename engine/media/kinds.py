"""The five kinds of media the owner sorts by (retention rules, storage usage), from a message's type and MIME."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case

from engine.config import RETENTION_TYPES
from engine.db.models import Chat, ChatMedia

MEDIA_TYPES = RETENTION_TYPES  # the settings name them for retention rules; one list for both


def media_type(chat_type: str | None, mime: str | None) -> str:
    """The message's own type when it is one of the five (a voice note is audio), else the MIME's family."""
    if chat_type in MEDIA_TYPES:
        return chat_type
    if chat_type == "voice":
        return "audio"
    family = (mime or "").split("/", 1)[0].lower()
    return family if family in ("image", "video", "audio") else "document"


def media_type_sql() -> Any:
    """`media_type` as a SQL expression over `chat_media` outer-joined to its `chats` row (grouping in SQLite)."""
    return case(
        (Chat.type.in_(MEDIA_TYPES), Chat.type),
        (Chat.type == "voice", "audio"),
        (ChatMedia.type.like("image/%"), "image"),
        (ChatMedia.type.like("video/%"), "video"),
        (ChatMedia.type.like("audio/%"), "audio"),
        else_="document",
    )
