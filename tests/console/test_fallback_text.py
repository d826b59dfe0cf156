"""What a bubble without text says: never blank, and Meta's own error words when Meta sent one instead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from console.bubble_layout import fallback_text
from engine import MessageView

SOMETHING_WENT_WRONG = {"code": 131000, "title": "Something went wrong",
                        "error_data": {"details": "Unsupported webhook payload"}}


def message(kind: str, body: str | None = None, **meta: Any) -> MessageView:
    return MessageView(id=1, wamid="wamid.X", direction="in", type=kind, body=body, status=None,
                       created_at=datetime(2026, 12, 1), meta=meta, media=None)


@pytest.mark.parametrize("msg, said", [
    (message("interactive", errors=[SOMETHING_WENT_WRONG]),
     "WhatsApp could not pass this message on: Something went wrong: Unsupported webhook payload (error 131000)"),
    (message("unsupported", raw={"type": "unknown", "errors": [{"code": 131051, "title": "Unsupported message type"}]}),
     "WhatsApp could not pass this message on: Unsupported message type (error 131051)"),
    (message("unsupported", raw={"type": "teleport"}), "This message type (teleport) can't be shown here yet"),
    (message("interactive"), "Interactive message"),
    (message("text", "hello", errors=[SOMETHING_WENT_WRONG]), None),  # it has its text: that is what shows
    (message("text", "gone", revoked_at="2026-12-01T10:00:00"), "This message was deleted"),
])
def test_fallback_text(msg: MessageView, said: str | None) -> None:
    assert fallback_text(msg) == said
