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
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from console.bridge import EngineBridge
from console.connect_finish import FirstMessagePage, SubscribePage
from console.connect_pages import AccountPage, AddressPage
from console.tasks import run_task
from engine import ChatSummary

log = logging.getLogger(__name__)


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
