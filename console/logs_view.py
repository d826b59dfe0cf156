"""Tails the engine's log file (`{data_dir}/logs/mediadesk.log`) with a level and text filter.

Polling, not QFileSystemWatcher: the watcher loses the file when RotatingFileHandler renames it, and a
stat every half second is cheap. The file is opened per read and never held, so rotation (a rename on
Windows) is never blocked by us.
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QColor, QFontDatabase, QHideEvent, QShowEvent, QSyntaxHighlighter, QTextCharFormat
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

MAX_LINES = 5000
POLL_MS = 500
FIRST_READ_BYTES = 1024 * 1024  # a big old log: start from its last megabyte
MAX_READ_BYTES = 4 * 1024 * 1024  # more than this appeared at once: skip ahead, we keep 5,000 lines anyway
# engine.logs.FORMAT: "2026-05-09 07:35:25,123 WARNING engine.media: ..."
LEVEL_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d+)? +(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
LEVELS = {"All levels": 0, "Info and above": logging.INFO, "Warnings and errors": logging.WARNING,
          "Errors only": logging.ERROR}
COLORS = {logging.WARNING: "#9a6700", logging.ERROR: "#c62828", logging.CRITICAL: "#c62828",
          logging.DEBUG: "#777777"}


class _LevelHighlighter(QSyntaxHighlighter):
    """Colours whole lines by their level; continuation lines (tracebacks) keep the record's colour."""

    def highlightBlock(self, text: str) -> None:
        m = LEVEL_RE.match(text)
        level = logging.getLevelName(m.group(1)) if m else self.previousBlockState()
        self.setCurrentBlockState(level if isinstance(level, int) else -1)
        color = COLORS.get(level) if isinstance(level, int) else None
        if color:
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(color))
            self.setFormat(0, len(text), fmt)


class LogsView(QWidget):
    """Read-only, filtered tail of `log_path`; follows new lines unless the user scrolled up."""

    linesAppended = Signal(int)  # how many new lines were read

    def __init__(self, log_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log_path = Path(log_path)
        self._offset = 0
        self._inode: int | None = None
        self._head = b""  # the file's first bytes: a truncated-and-rewritten file starts differently
        self._partial = ""
        self._last_level = logging.INFO
        self._lines: deque[tuple[int, str]] = deque(maxlen=MAX_LINES)  # (level, text)

        self.level_box = QComboBox()
        self.level_box.addItems(list(LEVELS))
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: text to look for")
        self.filter_edit.setClearButtonEnabled(True)
        self._where = QLabel(str(self.log_path))
        self._where.setStyleSheet("color: #666666;")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._highlighter = _LevelHighlighter(self.text.document())

        bar = QHBoxLayout()
        bar.addWidget(self.level_box)
        bar.addWidget(self.filter_edit, 1)
        root = QVBoxLayout(self)
        root.addLayout(bar)
        root.addWidget(self.text, 1)
        root.addWidget(self._where)
        self.level_box.currentIndexChanged.connect(self._rerender)
        self.filter_edit.textChanged.connect(self._rerender)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.poll()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()  # nothing to follow while hidden; the next show catches up from the offset
        super().hideEvent(event)

    # -- reading
    def poll(self) -> None:
        """Read what was appended since the last poll; start over when the file was rotated or truncated."""
        try:
            st = os.stat(self.log_path)
        except FileNotFoundError:
            self._where.setText(f"{self.log_path} (not written yet)")
            return
        except OSError as exc:
            self._where.setText(f"{self.log_path}: {exc.strerror or exc}")
            return
        inode = st.st_ino or None
        first = self._inode is None
        try:
            if not first and (inode != self._inode or st.st_size < self._offset
                              or self._read(0, len(self._head)) != self._head):
                self._offset, self._partial = 0, ""  # rotated or truncated: a new file, read from its start
            self._inode = inode
            if st.st_size == self._offset:
                return
            start = self._offset
            budget = FIRST_READ_BYTES if first else MAX_READ_BYTES
            skipped = st.st_size - start > budget
            if skipped:
                start, self._partial = st.st_size - budget, ""
            data = self._read(start, st.st_size - start)
            if self._offset == 0:
                self._head = self._read(0, 64)
        except OSError as exc:
            self._where.setText(f"{self.log_path}: {exc.strerror or exc}")
            return
        self._offset = start + len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()  # the last line may still be being written
        if skipped and lines:
            lines = lines[1:]  # we started in the middle of a line
        self._where.setText(str(self.log_path))
        self._add(line.rstrip("\r") for line in lines)

    def _read(self, start: int, size: int) -> bytes:
        with open(self.log_path, "rb") as fh:
            fh.seek(start)
            return fh.read(size)

    def _add(self, lines: Iterable[str]) -> None:
        new = []
        for line in lines:
            m = LEVEL_RE.match(line)
            if m:
                self._last_level = logging.getLevelName(m.group(1))
            new.append((self._last_level, line))
        if not new:
            return
        self._lines.extend(new)
        shown = [text for level, text in new if self._matches(level, text)]
        if shown:
            bar = self.text.verticalScrollBar()
            follow = bar.value() >= bar.maximum() - 2
            kept = bar.value()
            self.text.appendPlainText("\n".join(shown))
            bar.setValue(bar.maximum() if follow else kept)
        self.linesAppended.emit(len(new))

    # -- filtering
    def _matches(self, level: int, text: str) -> bool:
        needle = self.filter_edit.text().strip().lower()
        return level >= LEVELS[self.level_box.currentText()] and (not needle or needle in text.lower())

    def _rerender(self) -> None:
        self.text.setPlainText("\n".join(text for level, text in self._lines if self._matches(level, text)))
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())

    def visible_lines(self) -> list[str]:
        """The lines on screen (tests, copy)."""
        text = self.text.toPlainText()
        return text.split("\n") if text else []
