"""Connect WhatsApp…'s first two pages: (a) the account and its number, checked at Graph; (b) the public address
Meta will call (the built-in tunnel or the owner's own), with the app secret, self-tested through it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from console.connect_steps import StepLine, note, secret_edit, sentence, step_words
from console.tasks import run_task
from engine import BusinessNumber, PublicAddress, find_numbers, open_public_address

if TYPE_CHECKING:
    from console.connect_wizard import ConnectWizard

class AccountPage(QWizardPage):
    """(a) The token and the account, checked at Graph; the number picked from the account's list."""

    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Your WhatsApp Business account")
        self.setSubTitle("MediaDesk checks the token and the account at WhatsApp, then lists the account's numbers.")
        stored = bool(wizard.engine.cfg.access_token)
        self.token = secret_edit("•••• already set: leave empty to keep it" if stored else
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
        col.addWidget(note("The token needs the whatsapp_business_management and whatsapp_business_messaging "
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
        self.result.show_state("error", step_words(exc))
        self.w.step_done.emit("account", False, step_words(exc))

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
        self.app_secret = secret_edit("•••• already set: leave empty to keep it" if cfg.app_secret else
                                       "Meta app > App settings > Basic > App secret")
        self.tunnel_radio = QRadioButton("Use the built-in tunnel (ngrok)")
        self.own_radio = QRadioButton("I have my own HTTPS address")
        group = QButtonGroup(self)
        group.addButton(self.tunnel_radio)
        group.addButton(self.own_radio)
        self.tunnel_radio.setChecked(True)
        self.authtoken = secret_edit("•••• already set: leave empty to keep it" if cfg.tunnel_authtoken else
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
        col.addWidget(note("Meta signs every webhook with your app's secret, and MediaDesk refuses any that is not "
                            "signed with it: without the secret, anyone who found the address could post forged "
                            "messages. So no public address is opened without it."))
        col.addSpacing(8)
        col.addWidget(self.tunnel_radio)
        col.addLayout(tunnel_form)
        col.addWidget(self.own_radio)
        col.addLayout(own_form)
        col.addWidget(note("Only /webhook is reachable through the address; the health and metrics pages stay "
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
        self.result.show_state("ok", sentence(address.message))
        self.completeChanged.emit()
        self.w.step_done.emit("address", True, address.message)

    def _refused(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._busy = False
        self.test_button.setEnabled(True)
        self.result.show_state("error", step_words(exc))
        self.w.step_done.emit("address", False, step_words(exc))

    def isComplete(self) -> bool:
        return self.address is not None and not self._busy
