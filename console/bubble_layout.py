"""Where each part of a message bubble goes: one layout function shared by painting, size hints and clicks.

Pure geometry over a `MessageView` and the fonts (no painting here: see console.bubbles). Media boxes
have fixed sizes per kind so a thumbnail arriving later never changes a row's height (no relayout of a
10,000-message view).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QFont, QFontDatabase, QFontInfo, QFontMetrics

from console.wording import clock, day_label
from engine import MediaStatus, MessageView, error_words

Index = QModelIndex | QPersistentModelIndex
MessageRole = Qt.ItemDataRole.UserRole + 1
ProgressRole = Qt.ItemDataRole.UserRole + 2

VISUAL = {"image": QSize(300, 225), "sticker": QSize(150, 150), "video": QSize(300, 170)}
PAD = 8
SIDE = 18  # gap between a bubble and the conversation's edge
FOOTER_H = 16
BUTTON_H = 28
FAILED_H = 118
REMOVED_H = 70
BUSY = (MediaStatus.PENDING, MediaStatus.PROCESSING)


@dataclass
class BubbleLayout:
    height: int
    bubble: QRect = field(default_factory=QRect)
    day: QRect | None = None
    text: QRect | None = None
    media: QRect | None = None
    footer: QRect = field(default_factory=QRect)
    buttons: dict[str, QRect] = field(default_factory=dict)
    centered: bool = False  # system notes and reactions: a pill, not a bubble


def media_kind(msg: MessageView) -> str | None:
    """How the media is shown: image, sticker, video, audio, document, failed (any kind that failed), or
    removed (its file taken away by the owner's retention policy: said plainly, no Retry)."""
    if msg.media is None:
        return None
    if msg.media.status == MediaStatus.FAILED:
        return "failed"
    if msg.media.status == MediaStatus.REMOVED:
        return "removed"
    if msg.type in ("image", "sticker", "video", "audio", "document"):
        return msg.type
    mime = (msg.media.mime or "").split("/")[0]
    return {"image": "image", "video": "video", "audio": "audio"}.get(mime, "document")


def caption_of(msg: MessageView) -> str | None:
    """The text under a bubble's media, or the message text; never the document's name twice."""
    if (msg.meta or {}).get("revoked_at"):
        return None
    if msg.type == "location":
        return None
    if msg.type == "reaction":
        return None
    body = (msg.body or "").strip() or None
    if msg.media is not None and body and body == (msg.media.name or ""):
        return None
    return body


def fallback_text(msg: MessageView) -> str | None:
    """Messages without text still say something: nothing is ever a blank bubble."""
    if (msg.meta or {}).get("revoked_at"):
        return "This message was deleted"
    if msg.media is not None or msg.type in ("location", "reaction", "contacts"):
        return None
    if not (msg.body or "").strip() and (said := error_words(msg.meta)):
        return said
    if msg.type == "media_placeholder":
        return "Media from the chat history (WhatsApp shares the files of the last 14 days only)"
    if msg.type == "revoke":
        return "Deleted a message"
    if msg.type == "outbound":
        return "Message sent from another device"
    if msg.type == "unsupported":
        raw = (msg.meta or {}).get("raw") or {}
        kind = raw.get("type") if isinstance(raw, dict) else None
        return f"This message type{f' ({kind})' if kind else ''} can't be shown here yet"
    if not (msg.body or "").strip():
        return f"{msg.type.capitalize()} message"
    return None


# Colour emoji fonts by platform; the first one installed is the message text's fallback for emoji.
EMOJI_FAMILIES = ("Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", "Twemoji", "Twitter Color Emoji",
                  "JoyPixels", "EmojiOne Color")


@lru_cache(maxsize=1)
def emoji_family() -> str | None:
    """The colour emoji font on this system (fontconfig, CoreText or DirectWrite found it), or None.

    Without it as a named fallback, a text font that lacks a glyph falls to whatever font the platform picks
    first, often a monochrome one or none: WhatsApp messages are full of emoji."""
    installed = set(QFontDatabase.families())
    return next((f for f in EMOJI_FAMILIES if f in installed), None)


def with_emoji(font: QFont) -> QFont:
    family = emoji_family()
    if family is not None and family not in font.families():
        # The family the platform actually matched, not an alias like "Sans Serif": Qt skips a name that is no
        # installed family, and the emoji font (which has digits and a wide space) would then draw the text.
        font.setFamilies([QFontInfo(font).family(), family])
    return font


_JOINERS = {0x200D, 0xFE0F, 0xFE0E, 0x20E3}  # zero-width joiner, presentation selectors, keycap
_EMOJI_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x2300, 0x23FF), (0xE0020, 0xE007F))


def big_emoji(text: str | None, *, most: int = 3) -> bool:
    """A message of one to three emoji and nothing else: WhatsApp shows those large, without text beside them."""
    count, joined, flags = 0, False, 0
    for ch in (text or "").strip():
        cp = ord(ch)
        if ch.isspace():
            continue
        if cp in _JOINERS:
            joined = cp == 0x200D
            continue
        if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # skin tones and flag tags modify the emoji before
            continue
        if 0x1F1E6 <= cp <= 0x1F1FF:  # a flag is a pair of regional indicators
            flags += 1
            count += flags % 2
            continue
        if not any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES):
            return False
        count += 0 if joined else 1
        joined = False
    return 0 < count <= most


class Fonts:
    def __init__(self) -> None:
        base = with_emoji(QFont())
        self.text = QFont(base)
        self.text.setPointSizeF(base.pointSizeF() + 0.5)
        self.small = QFont(base)
        self.small.setPointSizeF(max(6.5, base.pointSizeF() - 1.5))
        self.bold = QFont(self.text)
        self.bold.setWeight(QFont.Weight.DemiBold)
        self.italic = QFont(self.text)
        self.italic.setItalic(True)
        self.emoji = QFont(base)
        self.emoji.setPointSizeF(base.pointSizeF() + 9)
        self.fm_text = QFontMetrics(self.text)
        self.fm_small = QFontMetrics(self.small)
        self.fm_bold = QFontMetrics(self.bold)
        self.fm_emoji = QFontMetrics(self.emoji)


def compute_layout(msg: MessageView, width: int, fonts: Fonts, *, show_day: bool) -> BubbleLayout:
    """Where everything of one message goes, in item coordinates (0, 0 is the row's top-left)."""
    top = 4
    day = None
    if show_day:
        label = day_label(msg.created_at)
        w = fonts.fm_small.horizontalAdvance(label) + 24
        day = QRect((width - w) // 2, 8, w, 22)
        top = day.bottom() + 10
    max_w = max(160, min(int(width * 0.72), 460))
    inner_max = max_w - 2 * PAD
    buttons: dict[str, QRect] = {}

    if msg.type == "reaction":
        w = 210
        rect = QRect(SIDE, top, w, 56)
        lay = BubbleLayout(height=rect.bottom() + 6, bubble=rect, day=day, centered=False)
        lay.footer = QRect(rect.right() - PAD - 60, rect.bottom() - PAD - FOOTER_H + 4, 60, FOOTER_H)
        return lay
    if msg.type == "system":
        text = msg.body or "System message"
        r = fonts.fm_small.boundingRect(QRect(0, 0, inner_max, 1000), Qt.TextFlag.TextWordWrap, text)
        w = r.width() + 24
        rect = QRect((width - w) // 2, top, w, r.height() + 12)
        return BubbleLayout(height=rect.bottom() + 6, bubble=rect, day=day, text=rect.adjusted(12, 6, -12, -6),
                            centered=True)

    kind = media_kind(msg)
    media_size: QSize | None = None
    if kind in VISUAL:
        media_size = VISUAL[kind]
    elif kind == "audio":
        media_size = QSize(280, 48)
    elif kind == "document":
        media_size = QSize(300, 60 + 6 + BUTTON_H)
    elif kind == "failed":
        media_size = QSize(300, FAILED_H)
    elif kind == "removed":
        media_size = QSize(300, REMOVED_H)
    elif msg.type == "location":
        media_size = QSize(280, 64 + 6 + BUTTON_H)
    elif msg.type == "contacts":
        media_size = QSize(260, 56)

    text = caption_of(msg) or fallback_text(msg)
    font_metrics = fonts.fm_emoji if media_size is None and big_emoji(text) else fonts.fm_text
    text_rect = None
    text_w = text_h = 0
    if text:
        tw = min(inner_max, media_size.width() - 2 * PAD + 8) if media_size else inner_max
        r = font_metrics.boundingRect(QRect(0, 0, max(tw, 60), 100000), Qt.TextFlag.TextWordWrap, text)
        text_w, text_h = r.width() + 2, r.height()

    footer_w = fonts.fm_small.horizontalAdvance(clock(msg.created_at)) + (22 if msg.direction == "out" else 0) + 4
    content_w = max(text_w, footer_w, media_size.width() if media_size else 0)
    bubble_w = min(max_w, content_w + 2 * PAD) if not media_size else media_size.width() + 2 * 4
    sticker = kind == "sticker"
    y = top + (4 if media_size and not sticker else PAD if not sticker else 0)
    media_rect = None
    if media_size:
        media_rect = QRect(4 if not sticker else 0, y, media_size.width(), media_size.height())
        y = media_rect.bottom() + 1
    if text:
        y += 4 if media_size else 0
        text_rect = QRect(PAD, y, bubble_w - 2 * PAD, text_h)
        y = text_rect.bottom() + 1
    overlay_footer = media_size is not None and not text and kind in VISUAL
    if not overlay_footer:
        y += 2
        footer = QRect(bubble_w - PAD - footer_w, y, footer_w, FOOTER_H)
        y = footer.bottom() + 1 + 4
    else:
        footer = QRect(media_rect.right() - footer_w - 8, media_rect.bottom() - FOOTER_H - 6, footer_w + 4,
                       FOOTER_H)
        y += 4
    height = y - top
    x = SIDE if msg.direction != "out" else width - SIDE - bubble_w

    def shift(r: QRect | None) -> QRect | None:
        return r.translated(x, 0) if r is not None else None

    media_rect = shift(media_rect)
    if media_rect is not None:
        if kind == "failed":
            buttons["retry"] = QRect(media_rect.left() + 12, media_rect.bottom() - BUTTON_H - 10, 84, BUTTON_H)
        elif kind in ("image", "sticker") and msg.media and msg.media.status == MediaStatus.COMPLETED:
            buttons["view"] = QRect(media_rect)
        elif kind == "video" and msg.media and msg.media.status == MediaStatus.COMPLETED:
            buttons["play"] = QRect(media_rect)
        elif kind == "audio" and msg.media and msg.media.status == MediaStatus.COMPLETED:
            buttons["play"] = QRect(media_rect.left() + 6, media_rect.top() + 6, 36, 36)
        elif kind == "document" and msg.media and msg.media.status == MediaStatus.COMPLETED:
            row = media_rect.bottom() - BUTTON_H + 1
            half = (media_rect.width() - 6) // 2
            buttons["open"] = QRect(media_rect.left(), row, half, BUTTON_H)
            buttons["folder"] = QRect(media_rect.left() + half + 6, row, media_rect.width() - half - 6, BUTTON_H)
        elif msg.type == "location":
            buttons["map"] = QRect(media_rect.left(), media_rect.bottom() - BUTTON_H + 1, media_rect.width(),
                                   BUTTON_H)
    return BubbleLayout(height=top + height + 4, bubble=QRect(x, top, bubble_w, height), day=day,
                        text=shift(text_rect), media=media_rect, footer=footer.translated(x, 0), buttons=buttons)
