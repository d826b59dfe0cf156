"""`Connect WhatsApp…`: the owner's number connected in four pages, each step shown live in plain words.

1. the account: access token and WhatsApp Business account id checked at Graph; the owner picks the number
2. the public address: the built-in tunnel or the owner's own https address, with the app secret, self-tested
3. subscribe: Meta calls the handshake ("Meta verified your webhook"); the workspace is created or updated
4. the first message: the first webhook that arrives is shown (the bridge's `messages_stored`)

The engine does every step (`find_numbers`, `open_public_address`, `subscribe_number`) on a pool thread; the
pages only present what comes back. `step_done(step, ok, text)` is emitted as each step ends, for whoever
watches (the tests).
"""

from __future__ import annotations

import logging
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from console.bridge import EngineBridge
from console.tasks import run_task
from console.wording import phone
from engine import (
    BusinessNumber,
    ChatSummary,
    ConnectedNumber,
    MediaDeskError,
    PublicAddress,
    find_numbers,
    open_public_address,
    subscribe_number,
)

log = logging.getLogger(__name__)

STYLES = {"busy": "color: #54656f;", "ok": "color: #1b7f4b;", "error": "color: #c62828;", "idle": "color: #54656f;"}
MARKS = {"busy": "…", "ok": "✔", "error": "✖", "idle": ""}
NOTE_STYLE = "color: #667781; font-size: 9pt;"


def _sentence(text: str) -> str:
    """The engine writes sentences to go after a colon; here they stand alone (an address stays as it is)."""
    return text if text.startswith(("http://", "https://")) else text[:1].upper() + text[1:]


def _words(exc: BaseException) -> str:
    """The engine's sentence, or for a bug of ours, an honest short one (the log has the rest)."""
    if isinstance(exc, MediaDeskError):
        return _sentence(str(exc))
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


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(NOTE_STYLE)
    label.setOpenExternalLinks(True)
    return label


def _secret_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit


class AccountPage(QWizardPage):
    """(a) The token and the account, checked at Graph; the number picked from the account's list."""

    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Your WhatsApp Business account")
        self.setSubTitle("MediaDesk checks the token and the account at WhatsApp, then lists the account's numbers.")
        stored = bool(wizard.engine.cfg.access_token)
        self.token = _secret_edit("•••• already set: leave empty to keep it" if stored else
                                  "a system user token (Business Settings > System users)")
        self.waba = QLineEdit()
        self.waba.setPlaceholderText("WhatsApp Manager > Account tools > Phone numbers: the account id")
        self.check_button = QPushButton("Check")
        self.check_button.clicked.connect(self.check)
        self.result = StepLine()
        self.numbers = QComboBox()
        self.numbers.setPlaceholderText("the account's numbers, once it is checked")
        self.numbers.setEnabled(False)
        self.numbers.currentIndexChanged.connect(lambda _i: self.completeChanged.emit())
        form = QFormLayout()
        form.addRow("Access token", self.token)
        row = QHBoxLayout()
        row.addWidget(self.waba, 1)
        row.addWidget(self.check_button)
        form.addRow("Business account id", row)
        picked = QFormLayout()
        picked.addRow("Phone number", self.numbers)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(self.result)  # outside the form: a wrapped label in a form row gets a second row's height
        col.addSpacing(8)
        col.addLayout(picked)
        col.addStretch(1)
        col.addWidget(_note("The token needs the whatsapp_business_management and whatsapp_business_messaging "
                            "permissions on this account. It is kept in the OS keyring, or without one in a file "
                            "only you can read, never in the settings file."))
        for edit in (self.token, self.waba):
            edit.textChanged.connect(self._forget)
            edit.returnPressed.connect(self.check)
        self._found: list[BusinessNumber] = []
        self._busy = False

    def _forget(self) -> None:
        self._found = []
        self.numbers.clear()
        self.numbers.setEnabled(False)
        self.result.show_state("idle", "")
        self.completeChanged.emit()

    def check(self) -> None:
        waba = self.waba.text().strip()
        if not waba.isdigit():
            self.result.show_state("error", "The Business account id is a number, as WhatsApp Manager shows it")
            return
        cfg, token = self.w.engine.cfg, self.token.text().strip() or None
        self._busy = True
        self.check_button.setEnabled(False)
        self.result.show_state("busy", "Asking WhatsApp about the token and the account…")
        run_task(lambda: find_numbers(cfg, waba_id=waba, access_token=token), self._found_numbers, self._refused)

    def _found_numbers(self, numbers: list[BusinessNumber]) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.check_button.setEnabled(True)
        self._found = numbers
        self.numbers.clear()
        for n in numbers:
            self.numbers.addItem(n.label, n.phone_number_id)
        self.numbers.setCurrentIndex(0)  # with a placeholder, a filled combo still selects nothing
        self.numbers.setEnabled(True)
        several = f"{len(numbers)} numbers" if len(numbers) > 1 else "1 number"
        text = f"WhatsApp accepted the token; account {numbers[0].waba_id} has {several}. Pick the one to connect."
        self.result.show_state("ok", text)
        self.completeChanged.emit()
        self.w.step_done.emit("account", True, text)

    def _refused(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.check_button.setEnabled(True)
        self.result.show_state("error", _words(exc))
        self.w.step_done.emit("account", False, _words(exc))

    @property
    def number(self) -> BusinessNumber | None:
        i = self.numbers.currentIndex()
        return self._found[i] if 0 <= i < len(self._found) else None

    def isComplete(self) -> bool:
        return self.number is not None and not self._busy


class AddressPage(QWizardPage):
    """(b) Where Meta will call: the built-in tunnel or the owner's https address; the app secret first."""

    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("A public HTTPS address")
        self.setSubTitle("Meta delivers messages to an https address on the internet that leads to this computer.")
        cfg = wizard.engine.cfg
        self.app_secret = _secret_edit("•••• already set: leave empty to keep it" if cfg.app_secret else
                                       "Meta app > App settings > Basic > App secret")
        self.tunnel_radio = QRadioButton("Use the built-in tunnel (ngrok)")
        self.own_radio = QRadioButton("I have my own HTTPS address")
        group = QButtonGroup(self)
        group.addButton(self.tunnel_radio)
        group.addButton(self.own_radio)
        self.tunnel_radio.setChecked(True)
        self.authtoken = _secret_edit("•••• already set: leave empty to keep it" if cfg.tunnel_authtoken else
                                      "free at dashboard.ngrok.com > Your Authtoken")
        self.domain = QLineEdit(cfg.tunnel_domain or "")
        self.domain.setPlaceholderText("optional: your static domain, e.g. rossi-bakery.ngrok-free.app")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://hooks.example.com/webhook (your reverse proxy to this computer)")
        self.test_button = QPushButton("Open and test")
        self.test_button.clicked.connect(self.test)
        self.result = StepLine()

        secret_form = QFormLayout()
        secret_form.addRow("App secret", self.app_secret)
        tunnel_form = QFormLayout()
        tunnel_form.setContentsMargins(24, 0, 0, 0)
        tunnel_form.addRow("ngrok authtoken", self.authtoken)
        tunnel_form.addRow("Static domain", self.domain)
        own_form = QFormLayout()
        own_form.setContentsMargins(24, 0, 0, 0)
        own_form.addRow("Address", self.url)
        col = QVBoxLayout(self)
        col.addLayout(secret_form)
        col.addWidget(_note("Meta signs every webhook with your app's secret, and MediaDesk refuses any that is not "
                            "signed with it: without the secret, anyone who found the address could post forged "
                            "messages. So no public address is opened without it."))
        col.addSpacing(8)
        col.addWidget(self.tunnel_radio)
        col.addLayout(tunnel_form)
        col.addWidget(self.own_radio)
        col.addLayout(own_form)
        col.addWidget(_note("Only /webhook is reachable through the address; the health and metrics pages stay "
                            "on this computer."))
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        col.addSpacing(4)
        col.addLayout(test_row)
        col.addWidget(self.result)
        col.addStretch(1)
        for button in (self.tunnel_radio, self.own_radio):
            button.toggled.connect(self._mode_changed)
        for edit in (self.app_secret, self.authtoken, self.domain, self.url):
            edit.textChanged.connect(self._forget)
        self._mode_changed()
        self.address: PublicAddress | None = None
        self._busy = False

    def _mode_changed(self) -> None:
        tunnel = self.tunnel_radio.isChecked()
        self.authtoken.setEnabled(tunnel)
        self.domain.setEnabled(tunnel)
        self.url.setEnabled(not tunnel)
        self._forget()

    def _forget(self) -> None:
        self.address = None
        self.result.show_state("idle", "")
        self.completeChanged.emit()

    def test(self) -> None:
        engine, tunnels = self.w.engine, self.w.tunnels
        tunnel = self.tunnel_radio.isChecked()
        secret, url = self.app_secret.text().strip() or None, self.url.text().strip() or None
        authtoken, domain = self.authtoken.text().strip() or None, self.domain.text().strip() or None

        def work() -> PublicAddress:
            return open_public_address(engine, app_secret=secret, own_url=url, tunnel=tunnel, provider=tunnels,
                                       tunnel_authtoken=authtoken, tunnel_domain=domain)

        self._busy = True
        self.test_button.setEnabled(False)
        self.result.show_state("busy", "Opening the tunnel and testing it…" if tunnel else
                               "Calling your address as Meta will…")
        run_task(work, self._tested, self._refused)

    def _tested(self, address: PublicAddress) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.test_button.setEnabled(True)
        self.address = address
        self.result.show_state("ok", _sentence(address.message))
        self.completeChanged.emit()
        self.w.step_done.emit("address", True, address.message)

    def _refused(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.test_button.setEnabled(True)
        self.result.show_state("error", _words(exc))
        self.w.step_done.emit("address", False, _words(exc))

    def isComplete(self) -> bool:
        return self.address is not None and not self._busy


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
        self.verified_line.show_state("error", _words(exc))
        self.retry_button.show()
        self.completeChanged.emit()
        self.w.step_done.emit("subscribe", False, _words(exc))

    def isComplete(self) -> bool:
        return self.done is not None and not self._busy


class FirstMessagePage(QWizardPage):
    """(d) The first message through the new connection, as soon as it is stored."""

    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Waiting for the first message")
        self.hint = _note("")
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


class ConnectWizard(QWizard):
    """Connects a WhatsApp number to the running `engine`; `tunnels` is the tunnel provider (None: ngrok)."""

    step_done = Signal(str, bool, str)  # step (account, address, subscribe, first_message), ok, the words shown
    connected = Signal(object)  # ConnectedNumber

    def __init__(self, engine: Any, bridge: EngineBridge, parent: QWidget | None = None, *,
                 tunnels: Any = None) -> None:
        super().__init__(parent)
        self.engine, self.bridge, self.tunnels = engine, bridge, tunnels
        self.setWindowTitle("Connect WhatsApp")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)  # connected: nothing left to cancel
        self.setMinimumSize(760, 540)
        self.first: ChatSummary | None = None
        self._waiting = False
        self.account = AccountPage(self)
        self.address = AddressPage(self)
        self.subscribe = SubscribePage(self)
        self.first_page = FirstMessagePage(self)
        for page in (self.account, self.address, self.subscribe, self.first_page):
            self.addPage(page)
        bridge.messages_stored.connect(self._on_stored)
        self._listening = True

    def expect_first_message(self) -> None:
        """From now on, the next stored message is the first through the new connection."""
        self.first = None
        self._waiting = True

    def _on_stored(self, event: Any) -> None:
        if not self._waiting or not event.messages or self.engine.library is None:
            return
        library = self.engine.library
        run_task(lambda: library.chat_page(limit=1), self._newest, lambda exc: log.warning(
            "could not read the first message: %s", exc))

    def _newest(self, chats: list[ChatSummary]) -> None:
        if not shiboken6.isValid(self) or not chats or not self._waiting:
            return
        self._waiting = False
        self.first = chats[0]
        self.first_page.show_message(chats[0])
        self.step_done.emit("first_message", True, self.first_page.result.text())

    def done(self, result: int) -> None:
        self._waiting = False
        address = self.address.address
        if self.subscribe.done is None and address is not None and address.tunnel:
            # Left before Meta was subscribed: a public address nobody uses should not stay open
            engine = self.engine
            run_task(engine.close_tunnel, None, lambda exc: log.warning("could not close the tunnel: %s", exc))
            self.address.address = None
        if self._listening:  # done() may run twice (Finish, then the window closing)
            self.bridge.messages_stored.disconnect(self._on_stored)
            self._listening = False
        super().done(result)
