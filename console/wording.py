"""The owner's words for what the engine records: failure reasons, sizes, times, message previews."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import phonenumbers

from engine import FailureReason, size_words

KIND_LABELS: dict[str, str] = {
    "image": "Photo", "video": "Video", "audio": "Audio", "voice": "Voice message", "sticker": "Sticker",
    "document": "Document", "location": "Location", "contacts": "Contact", "reaction": "Reacted",
    "unsupported": "Unsupported message", "outbound": "Message sent", "media_placeholder": "Media",
    "edit": "Edited", "revoke": "Deleted a message",
}


def reason_text(reason: str | None, error: str | None = None) -> str:
    """The failure reason as the owner would say it (FailureReason's words); falls back to the engine's own
    sentence for a reason this version does not know. Retry is always offered next to it."""
    words = FailureReason.words_for(reason)
    if words:
        return words
    if error:
        return error if len(error) <= 90 else error[:87] + "…"
    return "The download failed"


def removed_text(removed_at: str | None) -> str:
    """What a bubble says of a file the owner's retention policy took off this computer (not a failure)."""
    try:
        at = local_time(datetime.fromisoformat(removed_at)) if removed_at else None
    except ValueError:
        at = None
    when = f" on {at.day} {at:%B %Y}" if at else ""
    return f"Removed{when} by your retention policy"


def human_size(n: int | None) -> str:
    """The engine's size words; "" for a size nobody knows."""
    return "" if n is None or n < 0 else size_words(n)


def local_time(at: datetime | None) -> datetime | None:
    """Stored times are naive UTC; the owner reads local time."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC).astimezone()


def clock(at: datetime | None) -> str:
    t = local_time(at)
    return t.strftime("%H:%M") if t else ""


def _relative_day(at: datetime | None, now: datetime | None, *, today: str, date_format: str) -> str:
    """WhatsApp's way with dates: today, Yesterday, the weekday this week, else a date."""
    t = local_time(at)
    if t is None:
        return ""
    now = now or datetime.now().astimezone()
    days = (now.date() - t.date()).days
    if days <= 0:
        return today or t.strftime("%H:%M")
    if days == 1:
        return "Yesterday"
    if days < 7:
        return t.strftime("%A")
    return t.strftime(date_format)


def list_time(at: datetime | None, now: datetime | None = None) -> str:
    """The chat list's time: 14:05 today, Yesterday, the weekday this week, else 24/11/2026."""
    return _relative_day(at, now, today="", date_format="%d/%m/%Y")


def day_label(at: datetime | None, now: datetime | None = None) -> str:
    """The conversation's day separator: Today, Yesterday, the weekday this week, else 24 November 2026."""
    return _relative_day(at, now, today="Today", date_format="%d %B %Y")


def preview(kind: str | None, body: str | None) -> str:
    """A one-line preview of a message for the chat list."""
    kind = kind or "text"
    if kind in ("text", "button", "interactive", "system") and body:
        return body
    label = KIND_LABELS.get(kind)
    if kind == "reaction":
        return f"Reacted {body}" if body else "Removed a reaction"
    if label and body:
        return f"{label}: {body}"
    return label or body or kind.capitalize()


def initials(name: str | None, wa_id: str) -> str:
    words = [w for w in (name or "").split() if w[:1].isalnum()]
    if words:
        return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()
    return "#" + wa_id[-2:]


@lru_cache(maxsize=8192)  # the chat list asks again on every repaint; parsing costs tens of microseconds
def phone(wa_id: str) -> str:
    """`212612345678` -> `+212 6 12 34 56 78`: international format, the region read from the number itself."""
    digits = "".join(c for c in wa_id if c.isdigit())
    if not digits:
        return wa_id
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "+" + digits
    if not phonenumbers.is_possible_number(number):
        return "+" + digits  # grouping a number that cannot exist would only make it look right
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


