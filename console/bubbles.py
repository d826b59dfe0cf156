"""Message bubbles painted: the delegate draws what `console.bubble_layout` placed and turns clicks into actions.

The delegate only paints and emits `action(name, message)`; what an action does (retry, open, play)
belongs to `console.media_actions`.
"""

from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from console.bubble_layout import (
    BUSY,
    PAD,
    VISUAL,
    BubbleLayout,
    Fonts,
    Index,
    MessageRole,
    ProgressRole,
    big_emoji,
    caption_of,
    compute_layout,
    fallback_text,
    media_kind,
)
from console.thumbnails import ThumbnailCache
from console.wording import clock, day_label, human_size, local_time, reason_text, removed_text
from engine import MediaStatus, MessageView

__all__ = ["MessageDelegate", "MessageRole", "ProgressRole"]

IN_BG, OUT_BG = QColor("#ffffff"), QColor("#d9fdd3")
TEXT, MUTED, ACCENT, DANGER = QColor("#111b21"), QColor("#667781"), QColor("#008069"), QColor("#ea0038")


class MessageDelegate(QStyledItemDelegate):
    """Paints bubbles; clicks on their buttons come out as `action(name, MessageView)`."""

    action = Signal(str, object)

    def __init__(self, thumbnails: ThumbnailCache, parent: Any = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.fonts = Fonts()
        self._layouts: dict[tuple, BubbleLayout] = {}

    # -- layout (cached: sizeHint is asked often, the answer rarely changes)
    def layout_for(self, index: Index, width: int) -> BubbleLayout | None:
        msg: MessageView | None = index.data(MessageRole)
        if msg is None:
            return None
        show_day = self._starts_day(index, msg)
        key = (msg.id, msg.media.status if msg.media else None, msg.body, msg.status, width, show_day)
        lay = self._layouts.get(key)
        if lay is None:
            if len(self._layouts) > 20_000:
                self._layouts.clear()
            lay = self._layouts[key] = compute_layout(msg, width, self.fonts, show_day=show_day)
        return lay

    @staticmethod
    def _starts_day(index: Index, msg: MessageView) -> bool:
        if index.row() == 0:
            return True
        prev: MessageView | None = index.sibling(index.row() - 1, 0).data(MessageRole)
        if prev is None:
            return True
        a, b = local_time(prev.created_at), local_time(msg.created_at)
        return a is None or b is None or a.date() != b.date()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        width = option.rect.width() if option.rect.width() > 0 else 600
        view = self.parent()
        if view is not None and hasattr(view, "viewport"):
            width = view.viewport().width()
        lay = self.layout_for(index, width)
        return QSize(width, lay.height if lay else 40)

    # -- clicks
    def editorEvent(self, event: QEvent, model: Any, option: QStyleOptionViewItem, index: Index) -> bool:
        if event.type() != QEvent.Type.MouseButtonRelease or not isinstance(event, QMouseEvent):
            return False
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        name = self.button_at(index, option.rect, event.position().toPoint())
        if name is None:
            return False
        self.action.emit(name, index.data(MessageRole))
        return True

    def button_at(self, index: Index, rect: QRect, pos: QPoint) -> str | None:
        lay = self.layout_for(index, rect.width())
        if lay is None:
            return None
        local = pos - rect.topLeft()
        return next((name for name, r in lay.buttons.items() if r.contains(local)), None)

    # -- painting
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        msg: MessageView | None = index.data(MessageRole)
        lay = self.layout_for(index, option.rect.width())
        if msg is None or lay is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.translate(option.rect.topLeft())
        if lay.day is not None:
            self._pill(painter, lay.day, day_label(msg.created_at), QColor("#ffffff"), MUTED)
        if lay.centered:
            self._pill(painter, lay.bubble, msg.body or "System message", QColor("#fff5c4"), QColor("#54656f"))
            painter.restore()
            return
        kind = media_kind(msg)
        if kind != "sticker":
            self._bubble(painter, lay.bubble, out=msg.direction == "out")
        if msg.type == "reaction":
            self._reaction(painter, lay, msg)
        elif lay.media is not None:
            self._media(painter, lay, msg, kind, index.data(ProgressRole))
        if lay.text is not None:
            text = caption_of(msg) or fallback_text(msg) or ""
            italic = fallback_text(msg) is not None
            big = lay.media is None and big_emoji(text)
            painter.setFont(self.fonts.emoji if big else self.fonts.italic if italic else self.fonts.text)
            painter.setPen(MUTED if italic else TEXT)
            painter.drawText(lay.text, Qt.TextFlag.TextWordWrap, text)
        self._footer(painter, lay, msg, overlay=lay.media is not None and lay.text is None and kind in VISUAL)
        painter.restore()

    def _bubble(self, p: QPainter, r: QRect, *, out: bool) -> None:
        path = QPainterPath()
        path.addRoundedRect(QRectF(r), 8, 8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 22))
        p.drawPath(path.translated(0, 1))  # the hairline shadow WhatsApp bubbles have
        p.setBrush(OUT_BG if out else IN_BG)
        p.drawPath(path)

    def _pill(self, p: QPainter, r: QRect, text: str, bg: QColor, fg: QColor) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 18))
        p.drawRoundedRect(QRectF(r).translated(0, 1), 7, 7)
        p.setBrush(bg)
        p.drawRoundedRect(QRectF(r), 7, 7)
        p.setPen(fg)
        p.setFont(self.fonts.small)
        p.drawText(r.adjusted(10, 0, -10, 0), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)

    def _footer(self, p: QPainter, lay: BubbleLayout, msg: MessageView, *, overlay: bool) -> None:
        r = lay.footer
        if overlay:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 90))
            p.drawRoundedRect(QRectF(r.adjusted(-6, -1, 4, 1)), 8, 8)
        p.setFont(self.fonts.small)
        p.setPen(QColor("white") if overlay else MUTED)
        text_r = QRect(r)
        if msg.direction == "out":
            text_r.setRight(r.right() - 22)
            self._ticks(p, QRect(r.right() - 20, r.top(), 20, r.height()), msg.status)
        p.drawText(text_r, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, clock(msg.created_at))

    def _ticks(self, p: QPainter, r: QRect, status: str | None) -> None:
        if status == "failed":
            p.setPen(DANGER)
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "!")
            return
        color = QColor("#53bdeb") if status in ("read", "played") else MUTED
        p.setPen(QPen(color, 1.4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        count = 2 if status in ("delivered", "read", "played") else 1
        cy = r.center().y() + 1
        for i in range(count):
            x = r.left() + 3 + i * 5
            p.drawPolyline([QPoint(x, cy), QPoint(x + 3, cy + 3), QPoint(x + 9, cy - 4)])

    # -- media
    def _media(self, p: QPainter, lay: BubbleLayout, msg: MessageView, kind: str | None,
               progress: tuple[int, int] | None) -> None:
        media = msg.media
        r = lay.media
        if msg.type == "location":
            self._location(p, lay, msg)
            return
        if msg.type == "contacts":
            self._contacts(p, r, msg)
            return
        if media is None:
            return
        if kind == "failed":
            self._failed(p, lay, msg)
            return
        if kind == "removed":
            self._removed(p, lay.media, msg)
            return
        busy = media.status in BUSY
        if kind in VISUAL:
            self._visual(p, lay, msg, kind, busy, progress)
        elif kind == "audio":
            self._audio(p, r, msg, busy, progress)
        else:
            self._document(p, lay, msg, busy, progress)

    def _visual(self, p: QPainter, lay: BubbleLayout, msg: MessageView, kind: str, busy: bool,
                progress: tuple[int, int] | None) -> None:
        r, media = lay.media, msg.media
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(r), 6, 6)
        p.save()
        p.setClipPath(clip)
        error = None
        if busy:
            p.fillRect(r, QColor("#dfe5e7"))
            self._spinner(p, r.center(), 20)
            self._progress_text(p, QRect(r.left(), r.center().y() + 28, r.width(), 18), media, progress)
        elif kind == "video":
            # The engine's stored poster frame, where it made one: never the video itself (far too big to decode).
            poster = self.thumbnails.get(media.id, media.thumbnail, media.location) if media.thumbnail else None
            if poster is not None:
                self._draw_cover(p, r, poster, fit=False)
            else:
                grad_top, grad_bottom = QColor("#2a3942"), QColor("#111b21")
                p.fillRect(r, grad_bottom)
                p.fillRect(r.adjusted(0, 0, 0, -r.height() // 2), grad_top)
            self._play_circle(p, r.center(), 28)
            p.setFont(self.fonts.small)
            p.setPen(QColor("white"))
            p.drawText(r.adjusted(10, 0, 0, -8), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                       f"Video  {human_size(media.size)}")
        else:
            # The small stored thumbnail when the engine has made it; the original only for older media.
            pixmap = self.thumbnails.get(media.id, media.thumbnail or media.path, media.location)
            error = self.thumbnails.error(media.id)
            if pixmap is not None:
                self._draw_cover(p, r, pixmap, fit=kind == "sticker")
            elif error:
                p.fillRect(r, QColor("#f0f2f5"))
            else:
                p.fillRect(r, QColor("#dfe5e7") if kind != "sticker" else QColor(0, 0, 0, 0))
                self._spinner(p, r.center(), 14)
        p.restore()
        if error:
            p.setPen(MUTED)
            p.setFont(self.fonts.small)
            p.drawText(r.adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, error)

    def _draw_cover(self, p: QPainter, r: QRect, pixmap: QPixmap, *, fit: bool) -> None:
        """Fill the box like WhatsApp (crop the overflow); stickers fit whole instead."""
        src = QRectF(pixmap.rect())
        if fit:
            scaled = pixmap.size().scaled(r.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(r.center())
            p.drawPixmap(target, pixmap)
            return
        box_ratio = r.width() / r.height()
        if src.width() / src.height() > box_ratio:
            w = src.height() * box_ratio
            src = QRectF(src.left() + (src.width() - w) / 2, src.top(), w, src.height())
        else:
            h = src.width() / box_ratio
            src = QRectF(src.left(), src.top() + (src.height() - h) / 2, src.width(), h)
        p.drawPixmap(QRectF(r), pixmap, src)

    def _audio(self, p: QPainter, r: QRect, msg: MessageView, busy: bool, progress: tuple[int, int] | None) -> None:
        circle = QPoint(r.left() + 24, r.center().y())
        if busy:
            self._spinner(p, circle, 14)
        else:
            self._play_circle(p, circle, 18, bg=ACCENT)
        # a still waveform: enough to read as "voice note" at a glance
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#8696a0"))
        x0, n = r.left() + 52, 34
        for i in range(n):
            h = 6 + 14 * abs(math.sin(i * 0.7 + (msg.id % 7)))
            p.drawRoundedRect(QRectF(x0 + i * 5.6, r.center().y() - h / 2 - 4, 3, h), 1.5, 1.5)
        p.setFont(self.fonts.small)
        p.setPen(MUTED)
        voice = bool(((msg.meta or {}).get("audio") or {}).get("voice"))
        label = "Voice message" if voice else (msg.media.name or "Audio")
        if busy:
            label = self._progress_label(msg.media, progress)
        else:
            label += f"  ·  {human_size(msg.media.size)}" if msg.media.size else ""
        p.drawText(QRect(x0, r.bottom() - 14, r.width() - 56, 14), Qt.AlignmentFlag.AlignLeft, label)

    def _document(self, p: QPainter, lay: BubbleLayout, msg: MessageView, busy: bool,
                  progress: tuple[int, int] | None) -> None:
        r, media = lay.media, msg.media
        box = QRect(r.left(), r.top(), r.width(), 60)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 13))
        p.drawRoundedRect(QRectF(box), 6, 6)
        icon = QRect(box.left() + 10, box.top() + 10, 32, 40)
        ext = (media.name or "").rsplit(".", 1)[-1].upper()[:4] if "." in (media.name or "") else "FILE"
        colors = {"PDF": "#e2574c", "XLSX": "#1d6f42", "DOCX": "#2b579a", "PPTX": "#d24726"}
        if busy:
            self._spinner(p, icon.center(), 13)
        else:
            p.setBrush(QColor(colors.get(ext, "#54656f")))
            p.drawRoundedRect(QRectF(icon), 3, 3)
            p.setPen(QColor("white"))
            p.setFont(self.fonts.small)
            p.drawText(icon.adjusted(0, 14, 0, 0), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, ext)
        text_left = icon.right() + 10
        name = media.name or "Document"
        p.setFont(self.fonts.bold)
        p.setPen(TEXT)
        width = box.right() - text_left - 8
        p.drawText(QRect(text_left, box.top() + 10, width, 20), Qt.AlignmentFlag.AlignVCenter,
                   self.fonts.fm_bold.elidedText(name, Qt.TextElideMode.ElideMiddle, width))
        p.setFont(self.fonts.small)
        p.setPen(MUTED)
        detail = self._progress_label(media, progress) if busy else "  ·  ".join(
            x for x in (ext, human_size(media.size)) if x)
        p.drawText(QRect(text_left, box.top() + 32, width, 18), Qt.AlignmentFlag.AlignVCenter, detail)
        for name, label in (("open", "Open"), ("folder", "Show in folder")):
            if name in lay.buttons:
                self._button(p, lay.buttons[name], label)

    def _failed(self, p: QPainter, lay: BubbleLayout, msg: MessageView) -> None:
        r, media = lay.media, msg.media
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#fdecef"))
        p.drawRoundedRect(QRectF(r), 6, 6)
        # a warning sign in a circle
        icon = QRect(r.left() + 12, r.top() + 12, 22, 22)
        p.setBrush(DANGER)
        p.drawEllipse(icon)
        p.setPen(QColor("white"))
        p.setFont(self.fonts.bold)
        p.drawText(icon, Qt.AlignmentFlag.AlignCenter, "!")
        p.setPen(TEXT)
        p.drawText(QRect(icon.right() + 10, r.top() + 12, r.width() - 60, 22), Qt.AlignmentFlag.AlignVCenter,
                   "Content not available")
        p.setFont(self.fonts.small)
        p.setPen(QColor("#54656f"))
        what = {"image": "Photo", "video": "Video", "audio": "Audio", "sticker": "Sticker",
                "document": media.name or "Document"}.get(msg.type, media.name or "Media")
        reason = f"{what}: {reason_text(media.reason, media.error)}"
        p.drawText(QRect(icon.right() + 10, r.top() + 36, r.width() - 56, 34),
                   Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignTop, reason)
        # The engine's full sentence (media.error) is in the bubble's tooltip: see MessageListModel.data.
        self._button(p, lay.buttons["retry"], "⟳  Retry", primary=True)

    def _removed(self, p: QPainter, r: QRect, msg: MessageView) -> None:
        """Calm grey, not the failure's red: the owner chose this, nothing went wrong."""
        media = msg.media
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 13))
        p.drawRoundedRect(QRectF(r), 6, 6)
        icon = QRect(r.left() + 12, r.top() + 14, 32, 32)
        p.setBrush(QColor("#8696a0"))
        p.drawEllipse(icon)
        p.setPen(QPen(QColor("white"), 2))
        p.drawLine(icon.left() + 10, icon.top() + 11, icon.right() - 9, icon.top() + 11)  # a bin: its lid
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRect(icon.left() + 12, icon.top() + 13, icon.width() - 23, 10))
        left = icon.right() + 12
        width = r.right() - left - 10
        what = {"image": "Photo", "video": "Video", "audio": "Audio", "sticker": "Sticker"}.get(
            msg.type, media.name or "Document")
        size = f"  ·  {human_size(media.size)}" if media.size else ""
        p.setFont(self.fonts.bold)
        p.setPen(TEXT)
        p.drawText(QRect(left, r.top() + 10, width, 22), Qt.AlignmentFlag.AlignVCenter,
                   self.fonts.fm_bold.elidedText(what + size, Qt.TextElideMode.ElideMiddle, width))
        p.setFont(self.fonts.small)
        p.setPen(MUTED)
        p.drawText(QRect(left, r.top() + 34, width, r.height() - 40),
                   Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignTop, removed_text(media.removed_at))

    def _location(self, p: QPainter, lay: BubbleLayout, msg: MessageView) -> None:
        r = lay.media
        loc = (msg.meta or {}).get("location") or {}
        box = QRect(r.left(), r.top(), r.width(), 64)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#e7f3ef"))
        p.drawRoundedRect(QRectF(box), 6, 6)
        pin = QRect(box.left() + 12, box.top() + 14, 26, 26)
        p.setBrush(DANGER)
        p.drawEllipse(pin)
        p.setBrush(QColor("white"))
        p.drawEllipse(pin.center(), 5, 5)
        left = pin.right() + 12
        p.setPen(TEXT)
        p.setFont(self.fonts.bold)
        name = loc.get("name") or "Location"
        p.drawText(QRect(left, box.top() + 10, box.right() - left - 8, 20), Qt.AlignmentFlag.AlignVCenter,
                   self.fonts.fm_bold.elidedText(str(name), Qt.TextElideMode.ElideRight, box.right() - left - 8))
        p.setFont(self.fonts.small)
        p.setPen(MUTED)
        address = loc.get("address") or f"{loc.get('latitude')}, {loc.get('longitude')}"
        p.drawText(QRect(left, box.top() + 32, box.right() - left - 8, 22), Qt.AlignmentFlag.AlignVCenter,
                   self.fonts.fm_small.elidedText(str(address), Qt.TextElideMode.ElideRight, box.right() - left - 8))
        self._button(p, lay.buttons["map"], "Open in maps")

    def _contacts(self, p: QPainter, r: QRect, msg: MessageView) -> None:
        contacts = (msg.meta or {}).get("contacts") or []
        first = contacts[0] if contacts and isinstance(contacts[0], dict) else {}
        phones = [ph.get("phone") for ph in first.get("phones", []) if isinstance(ph, dict) and ph.get("phone")]
        icon = QRect(r.left() + 8, r.top() + 8, 40, 40)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#dfe5e7"))
        p.drawEllipse(icon)
        p.setPen(QColor("white"))
        p.setFont(self.fonts.bold)
        p.drawText(icon, Qt.AlignmentFlag.AlignCenter, "👤")
        p.setPen(TEXT)
        p.drawText(QRect(icon.right() + 10, r.top() + 8, r.width() - 60, 20), Qt.AlignmentFlag.AlignVCenter,
                   msg.body or "Contact card")
        p.setFont(self.fonts.small)
        p.setPen(MUTED)
        p.drawText(QRect(icon.right() + 10, r.top() + 30, r.width() - 60, 18), Qt.AlignmentFlag.AlignVCenter,
                   ", ".join(phones) or "Shared contact")

    def _reaction(self, p: QPainter, lay: BubbleLayout, msg: MessageView) -> None:
        r = lay.bubble
        p.setFont(self.fonts.emoji)
        p.setPen(TEXT)
        p.drawText(QRect(r.left() + PAD, r.top(), 44, r.height()), Qt.AlignmentFlag.AlignCenter, msg.body or "·")
        p.setFont(self.fonts.small)
        p.setPen(MUTED)
        text = "reacted to a message" if msg.body else "removed a reaction"
        p.drawText(QRect(r.left() + PAD + 50, r.top() + 10, r.width() - 60, 18), Qt.AlignmentFlag.AlignVCenter, text)

    # -- small parts
    def _button(self, p: QPainter, r: QRect, label: str, *, primary: bool = False) -> None:
        p.setPen(QPen(ACCENT, 1) if not primary else Qt.PenStyle.NoPen)
        p.setBrush(ACCENT if primary else QColor("white"))
        p.drawRoundedRect(QRectF(r).adjusted(0.5, 0.5, -0.5, -0.5), r.height() / 2, r.height() / 2)
        p.setPen(QColor("white") if primary else ACCENT)
        p.setFont(self.fonts.bold)
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, label)

    def _play_circle(self, p: QPainter, c: QPoint, radius: int, *, bg: QColor | None = None) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg or QColor(0, 0, 0, 120))
        p.drawEllipse(c, radius, radius)
        p.setBrush(QColor("white"))
        s = radius * 0.45
        p.drawPolygon([QPoint(int(c.x() - s * 0.7), int(c.y() - s)), QPoint(int(c.x() - s * 0.7), int(c.y() + s)),
                       QPoint(int(c.x() + s), c.y())])

    def _spinner(self, p: QPainter, c: QPoint, radius: int) -> None:
        """An arc that turns with the clock; the view repaints busy rows a few times a second."""
        angle = int((time.monotonic() * 360) % 360)
        p.setPen(QPen(QColor(255, 255, 255, 200), 4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, radius, radius)
        pen = QPen(ACCENT, 4)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.drawArc(QRect(c.x() - radius, c.y() - radius, 2 * radius, 2 * radius), -angle * 16, 100 * 16)

    def _progress_label(self, media: Any, progress: tuple[int, int] | None) -> str:
        if progress and progress[1]:
            done, total = progress
            return f"Downloading {human_size(done)} of {human_size(total)} ({done * 100 // total}%)"
        return "Downloading…" if media.status == MediaStatus.PROCESSING else "Waiting to download…"

    def _progress_text(self, p: QPainter, r: QRect, media: Any, progress: tuple[int, int] | None) -> None:
        p.setFont(self.fonts.small)
        p.setPen(QColor("#54656f"))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self._progress_label(media, progress))
        if progress and progress[1]:
            bar = QRect(r.left() + 40, r.bottom() + 4, r.width() - 80, 4)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 180))
            p.drawRoundedRect(QRectF(bar), 2, 2)
            p.setBrush(ACCENT)
            p.drawRoundedRect(QRectF(bar.left(), bar.top(), bar.width() * min(1.0, progress[0] / progress[1]), 4),
                              2, 2)
