"""The `settings` key/value table written safely by several processes at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.db.backend import backend_for
from engine.db.models import Setting


def put_setting(s: Session, key: str, value: str | None) -> None:
    """Insert or replace `key` in one statement. `Session.merge` reads, then inserts: two processes saving the
    same key at once (several `mediadesk health` runs, say) made one fail on the primary key."""
    backend = backend_for(s.get_bind().url.render_as_string(hide_password=False))
    s.execute(backend.insert(Setting).values(key=key, value=value)
              .on_conflict_do_update(index_elements=[Setting.key], set_={"value": value}))
