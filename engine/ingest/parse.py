"""Reading Meta's webhook bodies into plain records, with no database in sight.

Everything Meta sends is accepted: known message types keep their type, anything else is
`unsupported` with the raw message kept, so nothing is ever dropped for being new.

Besides `messages` (what customers send) and `statuses`, a number that also runs the WhatsApp Business
app ("coexistence") sends `message_echoes` (what the owner sent from the app: outbound messages, with
their media) and `history` (past chats, synced once, in chunks of threads).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from engine.ingest.filenames import sanitize_filename
from engine.media.reasons import FailureReason

MEDIA_TYPES = frozenset({"image", "video", "audio", "sticker", "document"})
KNOWN_TYPES = MEDIA_TYPES | {
    "text", "location", "contacts", "reaction", "interactive", "button", "order", "system",
    "referral", "voice", "unsupported", "request_welcome", "ephemeral",
    "media_placeholder",  # history sync: a media whose id comes in a later webhook
    "edit", "revoke",  # the owner edited or deleted a message in the Business app (echoes)
}
TOO_LARGE_CODE = 131052


@dataclass(frozen=True)
class MediaRecord:
    wa_media_id: str | None
    mime: str | None
    sha256: str | None
    name: str | None
    error: str | None = None  # set when Meta says at once that the media cannot be delivered
    reason: str | None = None


@dataclass(frozen=True)
class MessageRecord:
    phone_number_id: str
    display_phone_number: str | None
    waba_id: str | None
    wa_id: str
    contact_name: str | None
    wamid: str
    type: str
    body: str | None
    meta: dict[str, Any]
    created_at: datetime
    media: MediaRecord | None = None
    direction: str = "in"  # "out": sent by the business (an echo, or the business's side of synced history)
    status: str | None = None  # history sync: delivered/read/played..., as the Business app knew it
    target_wamid: str | None = None  # edit/revoke: the message it changes


SENDER_KEYS = ("user_id", "parent_user_id", "username")  # Meta's business-scoped ids and the @username


@dataclass(frozen=True)
class StatusRecord:
    phone_number_id: str
    display_phone_number: str | None
    waba_id: str | None
    wamid: str
    status: str
    recipient_id: str | None
    created_at: datetime
    meta: dict[str, Any]
    recipient_name: str | None = None  # the profile name Meta sends beside a status, if any


@dataclass
class ParsedWebhook:
    messages: list[MessageRecord] = field(default_factory=list)
    statuses: list[StatusRecord] = field(default_factory=list)
    ignored: str | None = None  # why the body holds nothing for us, when it does not
    errors: list[str] = field(default_factory=list)  # Meta's errors in changes with nothing else, in words

    @property
    def empty(self) -> bool:
        return not self.messages and not self.statuses


def _ts(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(float(value)), UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC).replace(tzinfo=None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _body_for(kind: str, msg: dict[str, Any]) -> str | None:
    """What the console shows as the message's text."""
    obj = _dict(msg.get(kind))
    if kind == "text":
        return _text(obj.get("body"))
    if kind in MEDIA_TYPES:
        return _text(obj.get("caption")) or (_text(obj.get("filename")) if kind == "document" else None)
    if kind == "location":
        parts = [obj.get("name"), obj.get("address")]
        words = ", ".join(str(p) for p in parts if p)
        return words or f"{obj.get('latitude')}, {obj.get('longitude')}"
    if kind == "contacts":
        names = []
        for c in _list(msg.get("contacts")):
            n = _dict(_dict(c).get("name"))
            names.append(n.get("formatted_name") or n.get("first_name") or "contact")
        return ", ".join(str(n) for n in names) or None
    if kind == "reaction":
        return _text(obj.get("emoji"))  # None: the reaction was removed
    if kind == "interactive":
        for key in ("button_reply", "list_reply"):
            if key in obj:
                return _text(_dict(obj[key]).get("title"))
        nfm = _dict(obj.get("nfm_reply"))
        if nfm:
            return _text(nfm.get("body") or nfm.get("name") or "Form submitted")
        return None
    if kind == "button":
        return _text(obj.get("text"))
    if kind == "order":
        items = _list(obj.get("product_items"))
        return _text(obj.get("text")) or f"Order of {len(items)} item(s)"
    if kind == "system":
        return _text(obj.get("body"))
    if kind == "edit":
        inner = _dict(obj.get("message"))
        inner_kind = str(inner.get("type") or "")
        return _body_for(inner_kind, inner) if inner_kind and inner_kind != "edit" else None
    return None


def error_words(meta: dict[str, Any] | None) -> str | None:
    """Meta's errors on a message (its own, or its webhook's `value.errors`) in plain words, or None.

    Meta sends a message it could not pass on with `errors` instead of content (131051 "Unsupported message
    type", 131000 "Something went wrong"): the owner should see why the bubble is empty, not a blank one."""
    errors = [_dict(e) for e in _list((meta or {}).get("errors"))]
    errors += [_dict(e) for e in _list(_dict((meta or {}).get("raw")).get("errors")) if _dict(e) not in errors]
    said = []
    for e in errors:
        title = _text(e.get("title")) or _text(e.get("message"))
        detail = _text(_dict(e.get("error_data")).get("details")) or _text(e.get("details"))
        words = title or detail or "an error"
        if detail and detail != words:
            words += f": {detail}"
        code = e.get("code")
        said.append(f"{words} (error {code})" if code is not None else words)
    if not said:
        return None
    return "WhatsApp could not pass this message on: " + "; ".join(said)


def _media_record(kind: str, msg: dict[str, Any]) -> MediaRecord | None:
    obj = _dict(msg.get(kind))
    errors = _list(msg.get("errors"))
    too_large = next((e for e in errors if _dict(e).get("code") == TOO_LARGE_CODE), None)
    if not obj.get("id") and not too_large:
        return None
    name = sanitize_filename(obj.get("filename"), fallback=kind) if obj.get("filename") else None
    error = reason = None
    if too_large:
        e = _dict(too_large)
        detail = e.get("details") or _dict(e.get("error_data")).get("details") or e.get("title") or ""
        error = f"The file is too large for WhatsApp to deliver (Meta error 131052). {detail}".strip()
        reason = FailureReason.TOO_LARGE
    return MediaRecord(
        wa_media_id=_text(obj.get("id")),
        mime=_text(obj.get("mime_type")),
        sha256=_text(obj.get("sha256")),
        name=name,
        error=error,
        reason=reason,
    )


def _wamid(msg: dict[str, Any]) -> str:
    wamid = msg.get("id")
    if wamid:
        return str(wamid)
    # No id (never seen from Meta, but possible from a hand-made body): derive one from the content so a
    # repeated delivery is still recognised.
    digest = hashlib.sha256(json.dumps(msg, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"noid.{digest}"


def parse_webhook(payload: Any) -> ParsedWebhook:
    """Every message and status of every entry and change in `payload`."""
    out = ParsedWebhook()
    if not isinstance(payload, dict):
        out.ignored = "the body is JSON but not an object"
        return out
    if payload.get("object") != "whatsapp_business_account":
        out.ignored = f"object is {payload.get('object')!r}, not 'whatsapp_business_account'"
        return out
    for entry in _list(payload.get("entry")):
        entry = _dict(entry)
        waba_id = _text(entry.get("id"))
        for change in _list(entry.get("changes")):
            value = _dict(_dict(change).get("value"))
            meta = _dict(value.get("metadata"))
            pnid = _text(meta.get("phone_number_id")) or "unknown"
            display = _text(meta.get("display_phone_number"))
            names: dict[str, str | None] = {}
            senders: dict[str, dict[str, str]] = {}
            first_contact: str | None = None
            for c in _list(value.get("contacts")):
                c = _dict(c)
                cid = _text(c.get("wa_id") or c.get("user_id"))
                if cid:
                    names[cid] = _text(_dict(c.get("profile")).get("name"))
                    first_contact = first_contact or cid
                    if c.get("user_id") and c.get("wa_id"):
                        names[str(c["user_id"])] = names[cid]
                    # Who Meta says wrote, beyond the number: kept with each of their messages.
                    ids = {k: t for k in SENDER_KEYS if (t := _text(c.get(k) or _dict(c.get("profile")).get(k)))}
                    if ids:
                        senders[cid] = ids
                        if c.get("user_id"):
                            senders[str(c["user_id"])] = ids
            # Errors of the whole change (131000 and the like): each of its messages carries them, so that its
            # bubble can say why it is empty; a change with nothing else is logged in Meta's words.
            change_errors = [e for e in _list(value.get("errors")) if isinstance(e, dict)]
            for msg in _list(value.get("messages")):
                if isinstance(msg, dict):
                    if change_errors and not msg.get("errors"):
                        msg = {**msg, "errors": change_errors}
                    record = _message(msg, pnid, display, waba_id, names, first_contact)
                    sender = senders.get(record.wa_id) or (senders.get(first_contact) if first_contact else None)
                    if sender:
                        record = replace(record, meta={**record.meta, "sender": sender})
                    out.messages.append(record)
            if change_errors and not value.get("messages") and not value.get("statuses"):
                out.errors.append(error_words({"errors": change_errors}) or "an error")
            for msg in _list(value.get("message_echoes")):
                if isinstance(msg, dict):
                    to = _text(msg.get("to") or msg.get("to_user_id")) or first_contact or "unknown"
                    out.messages.append(_message(msg, pnid, display, waba_id, names, to, direction="out",
                                                 wa_id=to))
            for chunk in _list(value.get("history")):
                for thread in _list(_dict(chunk).get("threads")):
                    thread = _dict(thread)
                    peer = _text(thread.get("id")) or "unknown"
                    for msg in _list(thread.get("messages")):
                        if isinstance(msg, dict):
                            # The customer's number in `from` is their message; anything else is the business's.
                            sender = _text(msg.get("from"))
                            outbound = bool(msg.get("to")) or (sender is not None and sender != peer)
                            out.messages.append(_message(msg, pnid, display, waba_id, names, peer,
                                                         direction="out" if outbound else "in", wa_id=peer))
            for st in _list(value.get("statuses")):
                if isinstance(st, dict) and st.get("id"):
                    extra = {k: v for k, v in st.items() if k not in ("id", "status", "timestamp")}
                    out.statuses.append(StatusRecord(
                        phone_number_id=pnid, display_phone_number=display, waba_id=waba_id,
                        wamid=str(st["id"]), status=str(st.get("status") or "unknown"),
                        recipient_id=_text(st.get("recipient_id")), created_at=_ts(st.get("timestamp")),
                        meta=extra, recipient_name=names.get(_text(st.get("recipient_id")) or ""),
                    ))
    if out.empty:
        out.ignored = ("; ".join(out.errors) if out.errors else "the body holds no messages or statuses")
    return out


def _message(msg: dict[str, Any], pnid: str, display: str | None, waba_id: str | None,
             names: dict[str, str | None], first_contact: str | None, *, direction: str = "in",
             wa_id: str | None = None) -> MessageRecord:
    sent_type = str(msg.get("type") or "unknown")
    kind = sent_type if sent_type in KNOWN_TYPES else "unsupported"
    wa_id = wa_id or _text(msg.get("from") or msg.get("user_id")) or first_contact or "unknown"
    if kind == "unsupported":
        meta: dict[str, Any] = {"raw": msg}
    else:
        meta = {k: v for k, v in msg.items() if k not in ("id", "from", "timestamp", "type", "text")}
    # Synced history says how far each message got (outbound) or that the owner already read it (inbound).
    status = _text(_dict(msg.get("history_context")).get("status"))
    target = _text(_dict(msg.get(kind)).get("original_message_id")) if kind in ("edit", "revoke") else None
    media = None
    if kind in MEDIA_TYPES or any(_dict(e).get("code") == TOO_LARGE_CODE for e in _list(msg.get("errors"))):
        media = _media_record(sent_type if sent_type in MEDIA_TYPES else kind, msg)
    return MessageRecord(
        phone_number_id=pnid, display_phone_number=display, waba_id=waba_id, wa_id=wa_id,
        contact_name=names.get(wa_id) or (names.get(first_contact) if first_contact else None),
        wamid=_wamid(msg), type=kind, body=_body_for(kind, msg), meta=meta,
        created_at=_ts(msg.get("timestamp")), media=media, direction=direction,
        status=status.lower() if status else None, target_wamid=target,
    )
