"""Connect WhatsApp…'s last two pages: (c) subscribe, which Meta verifies, and the workspace saved; (d) the first
message through the new connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWizard, QWizardPage

from console.connect_steps import StepLine, note, step_words
from console.tasks import run_task
from console.wording import phone
from engine import ChatSummary, ConnectedNumber, subscribe_number

if TYPE_CHECKING:
    from console.connect_wizard import ConnectWizard

class SubscribePage(QWizardPage):
    """(c) Subscribe: Meta calls the verify handshake; then the workspace is saved."""

    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Subscribe and verify")
        self.setSubTitle("MediaDesk asks Meta to send this account's webhooks to the address; Meta checks it first.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Next")
        self.subscribe_line = StepLine()
        self.verified_line = StepLine()
        self.workspace_line = StepLine()
        self.retry_button = QPushButton("Try again")
        self.retry_button.hide()
        self.retry_button.clicked.connect(self.run)
        col = QVBoxLayout(self)
        for line in (self.subscribe_line, self.verified_line, self.workspace_line):
            col.addWidget(line)
        row = QHBoxLayout()
        row.addWidget(self.retry_button)
        row.addStretch(1)
        col.addLayout(row)
        col.addStretch(1)
        self.done: ConnectedNumber | None = None
        self._busy = False
        self._for: tuple[str, str] | None = None

    def initializePage(self) -> None:
        number, address = self.w.account.number, self.w.address.address
        if number is None or address is None:
            return
        if self._for != (number.phone_number_id, address.callback_url):
            self.done = None
            self.run()

    def run(self) -> None:
        number, address = self.w.account.number, self.w.address.address
        if number is None or address is None:
            return
        engine, token = self.w.engine, self.w.account.token.text().strip() or None
        self._for = (number.phone_number_id, address.callback_url)
        self._busy = True
        self.retry_button.hide()
        self.subscribe_line.show_state("busy", f"Subscribing account {number.waba_id} to {address.callback_url}…")
        self.verified_line.show_state("busy", "Waiting for Meta to verify the webhook…")
        self.workspace_line.show_state("idle", "")
        self.completeChanged.emit()
        self.w.expect_first_message()
        run_task(lambda: subscribe_number(engine, number=number, callback_url=address.callback_url,
                                          access_token=token), self._subscribed, self._refused)

    def _subscribed(self, done: ConnectedNumber) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.done = done
        self.subscribe_line.show_state("ok", f"Subscribed account {done.number.waba_id} to {done.callback_url}")
        self.verified_line.show_state("ok", "Meta verified your webhook")
        ws = done.workspace
        self.workspace_line.show_state("ok", f"Workspace '{ws.name}' {'created' if ws.created else 'updated'} "
                                             f"for {done.number.label}")
        self.completeChanged.emit()
        self.w.step_done.emit("subscribe", True, done.describe())
        self.w.connected.emit(done)

    def _refused(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        step = getattr(exc, "step", None)
        if step in ("subscribe", "workspace"):
            self.subscribe_line.show_state("ok" if step == "workspace" else "error",
                                           "Subscribed" if step == "workspace" else "Not subscribed")
        else:
            self.subscribe_line.show_state("error", "Not subscribed")
        self.verified_line.show_state("error", step_words(exc))
        self.retry_button.show()
        self.completeChanged.emit()
        self.w.step_done.emit("subscribe", False, step_words(exc))

    def isComplete(self) -> bool:
        return self.done is not None and not self._busy


class FirstMessagePage(QWizardPage):
    """(d) The first message through the new connection, as soon as it is stored."""

    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Waiting for the first message")
        self.hint = note("")
        self.result = StepLine()
        col = QVBoxLayout(self)
        col.addWidget(self.hint)
        col.addSpacing(8)
        col.addWidget(self.result)
        col.addStretch(1)

    def initializePage(self) -> None:
        done = self.w.subscribe.done
        number = done.number.display_phone_number if done else "your business number"
        self.setSubTitle("You are connected: WhatsApp now sends this number's messages to MediaDesk.")
        self.hint.setText(f"Send a WhatsApp message to {number} from any phone: it shows here as soon as it "
                          "arrives. Finish whenever you like; messages keep arriving in the chat list.")
        if self.w.first is not None:
            self.show_message(self.w.first)
        else:
            self.result.show_state("busy", "Waiting for the first message…")

    def show_message(self, chat: ChatSummary) -> None:
        who = chat.name or phone(chat.wa_id)
        text = (chat.last_preview or "").strip() or "(a message without text)"
        self.setTitle("The first message is here")
        self.result.show_state("ok", f"The first message arrived, from {who} ({phone(chat.wa_id)}): “{text}”")
