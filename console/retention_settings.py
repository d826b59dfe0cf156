"""The Settings dialog's Retention group: how long media stay on this computer, what would go, then Apply.

The policy is a setting like any other (saved with the dialog's OK); Preview and Apply act on the values
typed, at once, through the engine: Preview shows the count and size before anything runs, and Apply asks
first, then shows its progress. Both run off the GUI thread; the worker's progress is only read by a timer
here (no widget is touched from the worker).
"""

from __future__ import annotations

import threading
from typing import Any

import shiboken6
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from console.form_styles import ERROR_STYLE, NOTE_STYLE, OK_STYLE
from console.tasks import run_task, weak_callback
from console.wording import human_size
from engine import Config, MediaDeskError, RetentionPolicy, RetentionPreview, RetentionReport, RetentionRule

ACTIONS = (("keep", "Keep them on this computer forever"), ("s3", "Move them to S3 after"),
           ("delete", "Delete them after"))
TYPES = (("image", "Photos"), ("video", "Videos"), ("audio", "Audio"), ("document", "Documents"),
         ("sticker", "Stickers"))
ACTION_WORDS = {"s3": "move to S3", "delete": "delete"}
TYPE_WORDS = {"image": "photos", "video": "videos", "audio": "audio", "document": "documents", "sticker": "stickers"}


class _Progress:
    """Where the worker leaves how far it got: a plain object, so no Qt wrapper is touched off the GUI thread."""

    def __init__(self, total: int) -> None:
        self.value = (0, total)

    def __call__(self, done: int, total: int) -> None:
        self.value = (done, total)  # one tuple swap: atomic under the GIL


class RetentionGroup(QGroupBox):
    """Edit the retention policy; `changes()` are its Config fields for the dialog to save."""

    previewed = Signal(object)  # RetentionPreview
    applied = Signal(object)  # RetentionReport
    failed = Signal(str)

    def __init__(self, cfg: Config, engine: Any = None, parent: QWidget | None = None) -> None:
        super().__init__("Retention", parent)
        self._engine = engine
        self._plan: RetentionPreview | None = None
        self._cancel: threading.Event | None = None
        self._progress = _Progress(0)  # written by the worker, read by the timer
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._show_progress)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)

        self.action = QComboBox()
        for value, label in ACTIONS:
            self.action.addItem(label, value)
        self.action.setCurrentIndex(max(0, self.action.findData(cfg.retention_action)))
        self.days = QSpinBox()
        self.days.setRange(1, 3650)
        self.days.setSuffix(" days")
        self.days.setValue(cfg.retention_days)
        row = QHBoxLayout()
        row.addWidget(self.action, 1)
        row.addWidget(self.days)
        form.addRow("Media received", row)

        self.types: dict[str, QCheckBox] = {}
        types_row = QHBoxLayout()
        chosen = set(cfg.retention_types) or {t for t, _ in TYPES}
        for value, label in TYPES:
            box = QCheckBox(label)
            box.setChecked(value in chosen)
            box.toggled.connect(self._changed)
            self.types[value] = box
            types_row.addWidget(box)
        types_row.addStretch(1)
        form.addRow("For", types_row)

        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.apply_button = QPushButton("Apply now…")
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.clicked.connect(self._stop)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(0)
        form.addRow("", buttons)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        form.addRow(self.result)  # the whole width: a preview is a sentence or two
        self.action.currentIndexChanged.connect(self._changed)
        self.days.valueChanged.connect(self._changed)
        self._changed()

    # -- the fields
    @property
    def action_value(self) -> str:
        return str(self.action.currentData())

    def _chosen_types(self) -> tuple[str, ...]:
        chosen = tuple(t for t, box in self.types.items() if box.isChecked())
        return () if len(chosen) == len(self.types) else chosen  # every type: the policy names none

    def changes(self) -> dict[str, Any]:
        """The Config fields these settings stand for (the dialog saves them with the others)."""
        return {"retention_action": self.action_value, "retention_days": self.days.value(),
                "retention_types": self._chosen_types()}

    def policy(self) -> RetentionPolicy:
        if self.action_value == "keep":
            return RetentionPolicy()
        return RetentionPolicy((RetentionRule(self.action_value, self.days.value(), self._chosen_types()),))

    def _changed(self) -> None:
        keep = self.action_value == "keep"
        none_chosen = not any(box.isChecked() for box in self.types.values())
        self.days.setEnabled(not keep)
        for box in self.types.values():
            box.setEnabled(not keep)
        self._plan = None  # a preview is of the values it was made for
        busy = self._cancel is not None
        self.preview_button.setEnabled(self._engine is not None and not keep and not none_chosen and not busy)
        self.apply_button.setEnabled(False)
        if self._engine is None:
            self._say("Preview and Apply work while MediaDesk runs; the policy is saved with OK.", NOTE_STYLE)
        elif keep:
            self._say("Nothing is ever removed: every file stays on this computer.", NOTE_STYLE)
        elif none_chosen:
            self._say("Choose at least one kind of media.", ERROR_STYLE)
        else:
            self._say("Preview shows what would go before anything runs. Saved with OK, the policy then runs "
                      "every hour.", NOTE_STYLE)

    def _say(self, text: str, style: str) -> None:
        self.result.setStyleSheet(style)
        self.result.setText(text)

    # -- preview
    def preview(self) -> None:
        engine, policy = self._engine, self.policy()
        self.preview_button.setEnabled(False)
        self._say("Looking at the stored files…", NOTE_STYLE)
        run_task(lambda: engine.retention_preview(policy), weak_callback(self._on_preview),
                 weak_callback(self._on_error))

    def _on_preview(self, plan: RetentionPreview) -> None:
        if not shiboken6.isValid(self):
            return
        self.preview_button.setEnabled(True)
        if plan.policy != self.policy():
            return  # the fields changed while it ran: that preview is of other values
        self._plan = plan
        self.apply_button.setEnabled(plan.media > 0)
        self._say(preview_words(plan), NOTE_STYLE)
        self.previewed.emit(plan)

    # -- apply
    def apply(self) -> None:
        plan = self._plan
        if plan is None or not plan.media:
            return
        rule = plan.policy.rules[0]
        verb = "Move" if rule.action == "s3" else "Delete"
        question = (f"{verb} {plan.media:,} media ({human_size(plan.bytes)}) now?\n\n" + preview_words(plan)
                    + ("\n\nDeleted files cannot be brought back." if rule.action == "delete" else ""))
        answer = QMessageBox.question(self, "Apply the retention policy", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        engine, policy = self._engine, plan.policy
        cancel = self._cancel = threading.Event()
        progress = self._progress = _Progress(plan.media)
        self.preview_button.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.progress.setRange(0, max(1, plan.media))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self._say(f"{verb.rstrip('e')}ing…", NOTE_STYLE)
        self._poll.start()
        run_task(lambda: engine.apply_retention(policy, progress=progress, cancel=cancel),
                 weak_callback(self._on_applied), weak_callback(self._on_error))

    def _stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self._say("Stopping after the file in hand…", NOTE_STYLE)

    def _show_progress(self) -> None:
        done, total = self._progress.value
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _finish(self) -> None:
        self._poll.stop()
        self._cancel = None
        self.progress.hide()
        self.cancel_button.hide()
        self._changed()

    def _on_applied(self, report: RetentionReport) -> None:
        if not shiboken6.isValid(self):
            return
        self._show_progress()
        self._finish()
        style = ERROR_STYLE if report.errors else OK_STYLE
        text = ("Stopped: " if report.stopped else "Done: ") + report.summary() + "."
        if report.errors:
            text += " " + report.errors[0]
        self._say(text, style)
        self.applied.emit(report)

    def _on_error(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._finish()
        message = str(exc) if isinstance(exc, MediaDeskError | OSError) else f"something went wrong: {exc}"
        self._say(f"✖ {message}", ERROR_STYLE)
        self.failed.emit(message)


def preview_words(plan: RetentionPreview) -> str:
    """The preview as the owner reads it: what goes, how much, and what the disk gets back."""
    if not plan.lines:
        return "No media are old enough yet: nothing would change."
    parts = []
    for action in ("s3", "delete"):
        lines = [line for line in plan.lines if line.action == action]
        if lines:
            what = ", ".join(f"{line.media:,} {TYPE_WORDS.get(line.type, line.type)} ({human_size(line.bytes)})"
                             for line in lines)
            parts.append(f"Would {ACTION_WORDS[action]} {what}.")
    parts.append(f"Frees {human_size(plan.frees_local_bytes) or '0 B'} on this computer.")
    return " ".join(parts)
