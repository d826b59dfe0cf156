"""The workspace row: the business's name and its WhatsApp ids, as the Settings dialog edits them.

SQLAlchemy stays in here: callers get a frozen `WorkspaceInfo` and, when the row cannot be saved, a
`ConfigError` that says why in the owner's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.db.models import Workspace
from engine.db.session import Database
from engine.errors import ConfigError


@dataclass(frozen=True)
class WorkspaceInfo:
    id: int | None  # None: not saved yet (the first save creates the row)
    name: str
    phone_number_id: str
    waba_id: str


def load_workspace(db: Database) -> WorkspaceInfo | None:
    """The first workspace (MediaDesk serves one number per data folder), or None before the first save."""
    with db.session() as s:
        ws = s.execute(select(Workspace).order_by(Workspace.id).limit(1)).scalar_one_or_none()
        if ws is None:
            return None
        return WorkspaceInfo(ws.id, ws.name or "", ws.phone_number_id or "", ws.waba_id or "")


def save_workspace(db: Database, info: WorkspaceInfo, *, graph_version: str) -> None:
    """Update (or create) the workspace row; an id another workspace already has is a ConfigError."""
    try:
        with db.session() as s:
            ws = s.get(Workspace, info.id) if info.id is not None else \
                s.execute(select(Workspace).order_by(Workspace.id).limit(1)).scalar_one_or_none()
            if ws is None:
                ws = Workspace(name=info.name, settings={})
                s.add(ws)
            ws.name = info.name or ws.name
            ws.phone_number_id = info.phone_number_id or None
            ws.waba_id = info.waba_id or None
            ws.graph_api_version = graph_version
    except IntegrityError:
        raise ConfigError(f"another workspace already uses phone number id {info.phone_number_id}") from None


__all__ = ["WorkspaceInfo", "load_workspace", "save_workspace"]
