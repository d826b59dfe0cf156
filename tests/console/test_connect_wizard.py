"""`Connect WhatsApp…` end to end: the wizard in the real window, the real engine and listener, the simulator as
Meta (numbers, subscribed_apps, the verify handshake, the first webhook), the tunnel seam's loopback double.

No keyring here (the null backend, as on a server): the secrets typed go to the 0600 file and a new config
load reads them back, as the next start would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import shiboken6
from keyring.backends import null

from console.app import Startup
from console.bridge import EngineBridge
from console.connect_wizard import ConnectWizard
from console.main_window import MainWindow
from engine import Config, MediaDeskEngine, load_config, secrets_path
from engine.simulator import CloudSimulator
from engine.simulator.accounts import FIRST_MESSAGE
from engine.tunnel import LoopbackTunnels

TOKEN, SECRET = "wizard-token", "wizard-app-secret"
WABA, NUMBER = "104996122399160", "106540352242922"


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(access_token=TOKEN, app_secret=SECRET) as running:
        running.add_number(WABA, NUMBER, display_phone_number="+212 6 12 34 56 78", verified_name="Atlas Cafe")
        running.add_number(WABA, "106540352242933", display_phone_number="+212 6 98 76 54 32", verified_name="")
        yield running


@pytest.fixture
def cfg(tmp_path: Path, sim: CloudSimulator) -> Config:
    """A first run: no token, no app secret, no verify token yet."""
    return Config(data_dir=tmp_path / "data").with_changes(
        graph_url=sim.base_url, graph_version=sim.version, port=0, workers=2, retry_delays=(0.05, 0.05),
        health_every_min=0, scrub_every_min=0)


@pytest.fixture
def tunnels() -> LoopbackTunnels:
    return LoopbackTunnels()


@pytest.fixture
def wizard(qtbot: Any, window: MainWindow, tunnels: LoopbackTunnels) -> Iterator[ConnectWizard]:
    wiz = window.connect_whatsapp(tunnels=tunnels)
    qtbot.waitExposed(wiz)
    yield wiz
    if shiboken6.isValid(wiz) and wiz.isVisible():
        wiz.close()


def finished(qtbot: Any, wiz: ConnectWizard, step: str, action: Any, *, timeout: int = 15_000) -> tuple[bool, str]:
    """Do `action` and wait for `step` to end; (ok, the words the page shows)."""
    with qtbot.waitSignal(wiz.step_done, timeout=timeout, check_params_cb=lambda s, *_: s == step) as blocker:
        action()
    _, ok, text = blocker.args
    return ok, text


def check_account(qtbot: Any, wiz: ConnectWizard, *, token: str = TOKEN, waba: str = WABA) -> tuple[bool, str]:
    wiz.account.token.setText(token)
    wiz.account.waba.setText(waba)
    return finished(qtbot, wiz, "account", wiz.account.check_button.click)


def test_a_good_number_is_connected_verified_and_its_first_message_shown(qtbot, wizard, window, engine, sim, cfg,
                                                                         tunnels):
    ok, text = check_account(qtbot, wizard)
    assert ok and "accepted the token" in text and "2 numbers" in text
    assert [wizard.account.numbers.itemText(i) for i in range(2)] == ["Atlas Cafe (+212 6 12 34 56 78)",
                                                                     "+212 6 98 76 54 32"]
    assert wizard.account.isComplete()
    wizard.next()
    page = wizard.address
    assert page.tunnel_radio.isChecked() and not page.isComplete()
    page.app_secret.setText(SECRET)
    page.authtoken.setText("owner-ngrok-token")
    ok, text = finished(qtbot, wizard, "address", page.test_button.click)
    assert ok and "self-test through the built-in tunnel" in text, text
    assert engine.tunnel is not None and text.startswith(engine.tunnel.webhook_url)
    assert engine.cfg.verify_token and engine.cfg.app_secret == SECRET  # applied live: no restart asked for
    ok, text = finished(qtbot, wizard, "subscribe", wizard.next)
    assert ok and text.startswith("connected Atlas Cafe (+212 6 12 34 56 78)"), text
    assert wizard.subscribe.verified_line.text() == "✔ Meta verified your webhook"
    # "updated" when Meta's first webhook won the race and ingest made the row a moment before (as in the field)
    assert re.match(r"✔ Workspace 'Atlas Cafe' (created|updated) for Atlas Cafe",
                    wizard.subscribe.workspace_line.text())
    assert sim.subscriptions[WABA].override_callback_uri == engine.tunnel.webhook_url
    wizard.next()
    assert wizard.currentPage() is wizard.first_page and "+212 6 12 34 56 78" in wizard.first_page.hint.text()
    qtbot.waitUntil(lambda: FIRST_MESSAGE in wizard.first_page.result.text(), timeout=15_000)
    assert "Meta Test Customer" in wizard.first_page.result.text()
    wizard.accept()
    qtbot.waitUntil(lambda: window.chats.rowCount() == 1, timeout=10_000)
    # what was typed survives a restart: a new config load reads it from the 0600 file
    again = load_config({"data_dir": cfg.data_dir}, environ={})
    assert (again.access_token, again.app_secret, again.verify_token, again.tunnel_authtoken) == (
        TOKEN, SECRET, engine.cfg.verify_token, "owner-ngrok-token")
    assert secrets_path(cfg.data_dir).stat().st_mode & 0o077 == 0
    assert window.cfg.access_token == TOKEN


@pytest.mark.parametrize(("token", "waba", "deny", "words"), [
    ("revoked", WABA, False, "WhatsApp refused the access token"),
    (TOKEN, "999", False, "WhatsApp knows no Business Account with id 999"),
    (TOKEN, WABA, True, "whatsapp_business_management"),
])
def test_the_account_step_says_what_is_wrong_in_its_own_sentence(qtbot, wizard, sim, token, waba, deny, words):
    if deny:
        sim.deny_permission(WABA)
    ok, text = check_account(qtbot, wizard, token=token, waba=waba)
    assert not ok and words in text and "\n" not in text
    assert wizard.account.result.text().startswith("✖") and not wizard.account.isComplete()
    assert wizard.account.check_button.isEnabled()  # the owner fixes the field and checks again


def test_no_public_address_without_the_app_secret(qtbot, wizard, engine, tunnels):
    assert check_account(qtbot, wizard)[0]
    wizard.next()
    wizard.address.authtoken.setText("owner-ngrok-token")
    ok, text = finished(qtbot, wizard, "address", wizard.address.test_button.click)
    assert not ok and "without the app secret" in text and "forged" in text
    assert tunnels.opened == [] and engine.tunnel is None and not wizard.address.isComplete()


def test_an_own_address_that_does_not_lead_here_fails_its_self_test(qtbot, wizard, sim):
    assert check_account(qtbot, wizard)[0]
    wizard.next()
    page = wizard.address
    page.own_radio.setChecked(True)
    page.app_secret.setText(SECRET)
    page.url.setText("http://127.0.0.1:9/webhook")
    ok, text = finished(qtbot, wizard, "address", page.test_button.click)
    assert not ok and "self-test through http://127.0.0.1:9/webhook failed: nothing answers" in text
    assert sim.verifications == []  # Meta was never asked


def test_a_callback_meta_cannot_verify_is_refused_and_can_be_tried_again(qtbot, wizard, engine, sim, tunnels):
    assert check_account(qtbot, wizard)[0]
    wizard.next()
    page = wizard.address
    page.app_secret.setText(SECRET)
    page.authtoken.setText("owner-ngrok-token")
    assert finished(qtbot, wizard, "address", page.test_button.click)[0]
    engine.close_tunnel()  # the tunnel drops between the self-test and Meta's handshake
    ok, text = finished(qtbot, wizard, "subscribe", wizard.next)
    assert not ok and "Meta could not verify the callback" in text and "nothing answers" in text
    assert wizard.subscribe.verified_line.text().startswith("✖") and not wizard.subscribe.isComplete()
    assert not wizard.subscribe.retry_button.isHidden()
    assert sim.subscriptions == {} and window_workspaces(engine) == []
    # back one page, the tunnel opened again, and this time Meta verifies it
    wizard.back()
    assert finished(qtbot, wizard, "address", page.test_button.click)[0]
    ok, _ = finished(qtbot, wizard, "subscribe", wizard.next)
    assert ok and sim.subscriptions[WABA].override_callback_uri == engine.tunnel.webhook_url
    assert window_workspaces(engine) == ["Atlas Cafe"]


def window_workspaces(engine: Any) -> list[str]:
    info = engine.library.workspace()
    return [info.name] if info and info.phone_number_id else []


def test_the_file_menu_opens_the_wizard(qtbot, window):
    window.connect_action.trigger()
    wiz = next(w for w in window.findChildren(ConnectWizard) if w.isVisible())
    assert wiz.currentPage() is wiz.account and window.connect_action.text() == "&Connect WhatsApp…"
    wiz.reject()
    qtbot.waitUntil(lambda: not any(shiboken6.isValid(w) and w.isVisible()
                                    for w in window.findChildren(ConnectWizard)), timeout=5000)


def test_the_first_runs_connect_choice_opens_the_wizard_once_the_engine_runs(qtbot, cfg):
    """The wizard needs the listener (Meta's handshake reaches it), so it waits for the engine to start."""
    eng = MediaDeskEngine(cfg)
    bridge = EngineBridge()
    win = MainWindow(eng, bridge, cfg)
    qtbot.addWidget(win)
    startup = Startup(eng, bridge, win, None)
    startup.connect_when_ready = True
    try:
        win.show()
        startup.begin()
        qtbot.waitUntil(lambda: startup.ready, timeout=15_000)
        wiz = next(w for w in win.findChildren(ConnectWizard) if w.isVisible())
        assert eng.listener is not None and wiz.engine is eng
        wiz.reject()
    finally:
        bridge.detach()
        win.close()
        eng.stop()


def test_leaving_before_subscribing_closes_the_tunnel_the_wizard_opened(qtbot, wizard, engine, tunnels):
    assert check_account(qtbot, wizard)[0]
    wizard.next()
    wizard.address.app_secret.setText(SECRET)
    wizard.address.authtoken.setText("owner-ngrok-token")
    assert finished(qtbot, wizard, "address", wizard.address.test_button.click)[0]
    assert engine.tunnel is not None
    wizard.reject()
    qtbot.waitUntil(lambda: engine.tunnel is None, timeout=5000)
    assert tunnels.closed == tunnels.opened
