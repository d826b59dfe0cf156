"""Emoji in messages: the system's colour emoji font is the message text's fallback, and emoji paint in colour."""

from __future__ import annotations

import os
from typing import Any

import pytest
from console_helpers import say
from PySide6.QtGui import QColor, QFont

from console.bubble_layout import Fonts, big_emoji, emoji_family, with_emoji
from console.main_window import MainWindow
from engine import MediaDeskEngine

EMOJI_CHAT = ["Buongiorno! 😀🥐☕", "Your cake is ready 🎂🎉 pick it up at 5?", "👍👍 thank you ❤️",
              "🇮🇹 🍕🍝🍷 Friday menu", "😂"]


def _colourful(image: Any) -> int:
    """Pixels of a strong colour (emoji yellow, red, orange): bubbles, text and ticks are greys and pale greens."""
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = QColor(image.pixel(x, y))
            if c.hsvSaturation() > 150 and c.value() > 150 and not 90 <= c.hsvHue() <= 200:
                count += 1
    return count


def test_the_message_font_falls_back_to_the_colour_emoji_font():
    family = emoji_family()
    if family is None:
        pytest.skip("no colour emoji font on this machine (Debian: apt install fonts-noto-color-emoji)")
    fonts = Fonts()
    for font in (fonts.text, fonts.bold, fonts.italic, fonts.emoji):
        assert font.families()[-1] == family
    assert with_emoji(QFont(fonts.text)).families().count(family) == 1  # never added twice


def test_an_emoji_rich_chat_paints_its_emoji_in_colour(qtbot, window: MainWindow, engine: MediaDeskEngine,
                                                       tmp_path):
    if emoji_family() is None:
        pytest.skip("no colour emoji font on this machine")
    for i, text in enumerate(EMOJI_CHAT):
        say(engine, "39021234567", "Giulia Rossi 🌸", text, minutes_ago=len(EMOJI_CHAT) - i)
    qtbot.waitUntil(lambda: window.chats.rowCount() == 1, timeout=5000)
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        window.select_chat(window.chats.summary(0).contact_id)
    qtbot.waitUntil(lambda: window.messages.rowCount() == len(EMOJI_CHAT), timeout=5000)
    shot = window.conversation.grab()
    if os.environ.get("SCREENSHOT_DIR"):
        window.grab().save(str(os.path.join(os.environ["SCREENSHOT_DIR"], "emoji-chat.png")))
    assert _colourful(shot.toImage()) > 50, "the emoji painted without colour (a monochrome or missing font)"


@pytest.mark.parametrize(("text", "big"), [
    ("😂", True), ("👍👍", True), ("❤️", True), ("🇮🇹", True), ("👨‍👩‍👧", True), ("👍🏽", True), ("🎂 🎉 🥐", True),
    ("😀😀😀😀", False), ("ok 👍", False), ("5️⃣", False), ("", False), ("Grazie!", False),
])
def test_one_to_three_emoji_alone_are_shown_large(text, big):
    assert big_emoji(text) is big
