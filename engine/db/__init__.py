"""Data: models, sessions, queries, migrations and backups."""

from engine.db.models import (
    Base,
    Chat,
    ChatMedia,
    Contact,
    MediaAttempt,
    MediaStatus,
    Setting,
    Workspace,
)
from engine.db.session import Database, make_engine

__all__ = [
    "Base",
    "Chat",
    "ChatMedia",
    "Contact",
    "Database",
    "MediaAttempt",
    "MediaStatus",
    "Setting",
    "Workspace",
    "make_engine",
]
