"""The message lines under a form's fields and buttons: one look for every Settings section, and the one
editor-with-its-message widget the sections build their forms from."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QLineEdit, QVBoxLayout, QWidget

from console.settings_checks import Validator

ERROR_STYLE = "color: #c62828; font-size: 9pt;"
NOTE_STYLE = "color: #666666; font-size: 9pt;"
OK_STYLE = "color: #2e7d32; font-size: 9pt;"


class CheckedField:
    """A line edit with its message line under it (`box` goes into the form); `validator` checks its text."""

    def __init__(self, editor: QLineEdit, validator: Validator | None = None) -> None:
        self.editor = editor
        self.validator = validator
        self.message = QLabel("")
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setWordWrap(True)
        self.message.hide()
        self.box = QWidget()
        lay = QVBoxLayout(self.box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(editor)
        lay.addWidget(self.message)

    def check(self, active: bool = True) -> bool:
        """Run the validator (unless the field is not in use now); True when the text is fine."""
        return self.show(self.validator(self.editor.text()) if (self.validator and active) else None)

    def show(self, error: str | None) -> bool:
        self.message.setText(error or "")
        self.message.setVisible(bool(error))
        return error is None
