"""Builders for webhook bodies shaped exactly like Meta's (see fixtures/webhooks/).

Every builder returns a complete `whatsapp_business_account` body with one entry, one change and
one message or status, ready for `WebhookSender.send`. Wamids are unique unless given, so a body
built twice is two messages; pass the same `wamid` to reproduce Meta's retried deliveries.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
from typing import Any, TypedDict, Unpack

DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550783881"
DEFAULT_WABA_ID = "102290129340398"
DEFAULT_WA_ID = "15551234567"
DEFAULT_NAME = "Sam Carter"

MEDIA_KINDS = ("image", "video", "audio", "sticker", "document")


class MessageFields(TypedDict, total=False):
    """Who sent a message, to which business number, when: keywords every message builder takes."""

    wa_id: str
    name: str
    wamid: str
    timestamp: int
    phone_number_id: str
    display_phone_number: str
    waba_id: str
    context: dict[str, str]


def new_wamid(wa_id: str = DEFAULT_WA_ID, rng: random.Random | None = None) -> str:
    """A fresh wamid in Meta's format (base64 of a protobuf-ish blob naming the sender)."""
    suffix = (f"{rng.getrandbits(80):020X}" if rng else secrets.token_hex(10).upper()).encode()
    blob = b"\x18" + bytes([len(wa_id)]) + wa_id.encode() + b"\x15\x02\x00\x12\x18\x14" + suffix + b"\x00"
    return "wamid." + base64.b64encode(blob).decode()


def envelope(value: dict[str, Any], *, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
             display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
             waba_id: str = DEFAULT_WABA_ID, field: str = "messages") -> dict[str, Any]:
    """Wrap a change `value` (messages, statuses, message_echoes...) in Meta's object/entry/changes envelope."""
    metadata = {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "changes": [{"value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
                         "field": field}],
        }],
    }


def inbound(message_type: str, content: dict[str, Any] | None, *, wa_id: str = DEFAULT_WA_ID,
            name: str = DEFAULT_NAME, wamid: str | None = None, timestamp: int | None = None,
            phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
            display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER, waba_id: str = DEFAULT_WABA_ID,
            context: dict[str, str] | None = None,
            errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A body carrying one inbound message of `message_type` whose block is `content`.

    The other builders are thin wrappers over this one; use it directly for the rarer types
    (interactive, button, order, contacts...).
    """
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid or new_wamid(wa_id),
        "timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "type": message_type,
    }
    if context:
        message["context"] = context
    if content is not None:
        message[message_type] = content
    if errors:
        message["errors"] = errors
    value = {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
    return envelope(value, phone_number_id=phone_number_id,
                    display_phone_number=display_phone_number, waba_id=waba_id)


def text_message(body: str, **sender: Unpack[MessageFields]) -> dict[str, Any]:
    """A text message; `sender` is `MessageFields` (wa_id, name, wamid, timestamp, ...)."""
    return inbound("text", {"body": body}, **sender)


def media_message(kind: str, media_id: str, mime: str, *, caption: str | None = None,
                  filename: str | None = None, sha256: str | None = None, voice: bool | None = None,
                  animated: bool | None = None, **sender: Unpack[MessageFields]) -> dict[str, Any]:
    """An image, video, audio, sticker or document message pointing at a Graph media id.

    `sha256` is written as given (Meta uses base64 here); `voice` marks an audio as a voice note,
    `animated` a sticker as animated, as Meta's fields do.
    """
    if kind not in MEDIA_KINDS:
        raise ValueError(f"media kind must be one of {', '.join(MEDIA_KINDS)}, not {kind!r}")
    block: dict[str, Any] = {"mime_type": mime}
    if sha256 is not None:
        block["sha256"] = sha256
    block["id"] = str(media_id)
    if caption is not None and kind in ("image", "video", "document"):
        block["caption"] = caption
    if filename is not None and kind == "document":
        block["filename"] = filename
    if voice is not None and kind == "audio":
        block["voice"] = voice
    if animated is not None and kind == "sticker":
        block["animated"] = animated
    return inbound(kind, block, **sender)


def location_message(latitude: float, longitude: float, *, place: str | None = None,
                     address: str | None = None, **sender: Unpack[MessageFields]) -> dict[str, Any]:
    """A shared location, optionally a named place with its address."""
    block: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if place is not None:
        block["name"] = place
    if address is not None:
        block["address"] = address
    return inbound("location", block, **sender)


def reaction_message(message_id: str, emoji: str, **sender: Unpack[MessageFields]) -> dict[str, Any]:
    """A reaction to an earlier message; an empty emoji removes the reaction, as on WhatsApp."""
    return inbound("reaction", {"message_id": message_id, "emoji": emoji}, **sender)


def error_message_131052(*, kind: str = "unsupported", mime: str | None = None,
                         **sender: Unpack[MessageFields]) -> dict[str, Any]:
    """A message Meta could not fetch from the customer because the file is over its size cap.

    Meta delivers it with type `unsupported` (or the media kind with no media id) and an
    `errors` entry with code 131052; the console must show it as a failed media with that reason.
    """
    details = ("Media file size too big. Max file size we currently support: 100MB. Please "
               "communicate with your customer to send a media file of size less than 100MB")
    errors = [{
        "code": 131052,
        "title": "Media download error",
        "message": "Media download error",
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }]
    content = {"mime_type": mime} if mime and kind != "unsupported" else None
    return inbound(kind, content, errors=errors, **sender)


def status_update(wamid: str, status: str, *, recipient_id: str = DEFAULT_WA_ID,
                  timestamp: int | None = None, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                  display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
                  waba_id: str = DEFAULT_WABA_ID, conversation_id: str | None = None, category: str = "service",
                  errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A sent/delivered/read/failed status for an outbound message, with pricing when billable."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "recipient_id": recipient_id,
    }
    if status in ("sent", "delivered"):
        entry["conversation"] = {"id": conversation_id or secrets.token_hex(16),
                                 "origin": {"type": category}}
        entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": category}
    if errors:
        entry["errors"] = errors
    return envelope({"statuses": [entry]}, phone_number_id=phone_number_id,
                    display_phone_number=display_phone_number, waba_id=waba_id)


def echo_message(body: str, *, wa_id: str = DEFAULT_WA_ID, wamid: str | None = None,
                 timestamp: int | None = None, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                 display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER, waba_id: str = DEFAULT_WABA_ID,
                 **_: Any) -> dict[str, Any]:
    """What the owner typed to `wa_id` in the WhatsApp Business app, as Meta echoes it to a coexistence
    number (`smb_message_echoes`)."""
    message = {"from": display_phone_number, "to": wa_id, "id": wamid or new_wamid(wa_id),
               "timestamp": str(int(time.time() if timestamp is None else timestamp)), "type": "text",
               "text": {"body": body}}
    return envelope({"message_echoes": [message]}, phone_number_id=phone_number_id,
                    display_phone_number=display_phone_number, waba_id=waba_id, field="smb_message_echoes")


def message_of(body: dict[str, Any]) -> dict[str, Any]:
    """The single message, echo or status inside a body built here (its wamid, media id, timestamp...)."""
    value = body["entry"][0]["changes"][0]["value"]
    return (value.get("messages") or value.get("message_echoes") or value["statuses"])[0]
