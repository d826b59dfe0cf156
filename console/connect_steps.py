"""The pieces every page of Connect WhatsApp… is made of: a checklist line (a mark, then the step's outcome in
words), notes, secret fields, and the engine's sentences made to stand alone."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from engine import MediaDeskError

log = logging.getLogger(__name__)

STYLES = {"busy": "color: #54656f;", "ok": "color: #1b7f4b;", "error": "color: #c62828;", "idle": "color: #54656f;"}
MARKS = {"busy": "…", "ok": "✔", "error": "✖", "idle": ""}
NOTE_STYLE = "color: #667781; font-size: 9pt;"


def sentence(text: str) -> str:
    """The engine writes sentences to go after a colon; here they stand alone (an address stays as it is)."""
    return text if text.startswith(("http://", "https://")) else text[:1].upper() + text[1:]


def step_words(exc: BaseException) -> str:
    """The engine's sentence, or for a bug of ours, an honest short one (the log has the rest)."""
    if isinstance(exc, MediaDeskError):
        return sentence(str(exc))
    log.error("a connect step failed unexpectedly", exc_info=exc)
    return f"Something went wrong on our side ({type(exc).__name__}); the log has the details"


class StepLine(QLabel):
    """One line of a checklist: a mark, then the step's outcome in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = "idle"

    def show_state(self, state: str, text: str) -> None:
        self.state = state
        self.setStyleSheet(STYLES[state])
        self.setText(f"{MARKS[state]} {text}".strip())


def note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(NOTE_STYLE)
    label.setOpenExternalLinks(True)
    return label


def secret_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit
