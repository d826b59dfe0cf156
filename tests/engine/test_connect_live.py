"""Connecting from inside the running engine (the wizard's steps), against the simulator's Meta over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mediadesk_testkit import ACCESS_TOKEN, APP_SECRET, post_webhook, sql, wait_until

from engine import secrets
from engine.config import load_config
from engine.connect_live import find_numbers, open_public_address, subscribe_number
from engine.errors import ConnectError, TunnelError
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, text_message
from engine.tunnel import LoopbackTunnels

WABA, NUMBER, SECOND = "104996122399160", "106540352242922", "106540352242933"


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(access_token=ACCESS_TOKEN, app_secret=APP_SECRET) as running:
        running.add_number(WABA, NUMBER, display_phone_number="+212 6 12 34 56 78", verified_name="Atlas Cafe")
        running.add_number(WABA, SECOND, display_phone_number="+212 6 98 76 54 32", verified_name="")
        yield running


def test_the_accounts_numbers_are_listed_for_the_owner_to_pick(sim, sim_config):
    numbers = find_numbers(sim_config, waba_id=WABA)
    assert [(n.phone_number_id, n.label) for n in numbers] == [(NUMBER, "Atlas Cafe (+212 6 12 34 56 78)"),
                                                               (SECOND, "+212 6 98 76 54 32")]


@pytest.mark.parametrize(("token", "waba", "deny", "reason", "words"), [
    ("revoked", WABA, False, "token", "refused the access token"),
    (ACCESS_TOKEN, "999", False, "account", "knows no Business Account with id 999"),
    (ACCESS_TOKEN, WABA, True, "permission", "whatsapp_business_management"),
    ("", WABA, False, "token", "no access token was given"),
])
def test_each_refusal_of_the_account_has_its_own_sentence(sim, sim_config, token, waba, deny, reason, words):
    if deny:
        sim.deny_permission(WABA)
    with pytest.raises(ConnectError, match=words) as caught:
        find_numbers(sim_config.with_changes(access_token=None), waba_id=waba, access_token=token)
    assert caught.value.reason == reason and "\n" not in str(caught.value)


def test_a_verify_token_made_while_the_listener_runs_is_used_at_once(sim, sim_config, start_engine):
    """No restart: the new token reaches the running listener before Meta's handshake, and is kept for the next
    start; the token typed is saved too."""
    eng = start_engine(sim_config.with_changes(verify_token=None, app_secret=None, access_token=None),
                       workers=False)
    address = open_public_address(eng, app_secret=APP_SECRET, own_url=eng.listener.address + "/webhook")
    assert "self-test" in address.message and eng.cfg.verify_token and eng.cfg.app_secret == APP_SECRET
    (number, _) = find_numbers(eng.cfg, waba_id=WABA, access_token=ACCESS_TOKEN)
    done = subscribe_number(eng, number=number, callback_url=address.callback_url, access_token=ACCESS_TOKEN)
    assert done.workspace.name == "Atlas Cafe" and sim.verifications[-1].ok
    assert sim.subscriptions[WABA].verify_token == eng.cfg.verify_token
    (first,) = sim.deliveries
    assert first.done.wait(10) and first.status == 200  # signed with the app secret the listener now checks
    wait_until(lambda: sql(eng.cfg.db_path, "select 1 from chats where wamid = ?", first.wamid),
               what="the first webhook stored")
    after_restart = load_config({"data_dir": sim_config.data_dir}, environ={})
    assert (after_restart.access_token, after_restart.app_secret, after_restart.verify_token) == (
        ACCESS_TOKEN, APP_SECRET, eng.cfg.verify_token)
    assert secrets.secrets_path(sim_config.data_dir).stat().st_mode & 0o077 == 0


def test_through_the_tunnel_meta_verifies_the_public_address(sim, sim_config, start_engine):
    eng = start_engine(sim_config, workers=False)
    tunnels = LoopbackTunnels()
    address = open_public_address(eng, tunnel=True, provider=tunnels, tunnel_authtoken="owner-ngrok-token")
    assert address.tunnel and address.callback_url == eng.tunnel.webhook_url != eng.listener.address + "/webhook"
    (number, _) = find_numbers(eng.cfg, waba_id=WABA)
    subscribe_number(eng, number=number, callback_url=address.callback_url)
    assert sim.subscriptions[WABA].override_callback_uri == eng.tunnel.webhook_url
    (first,) = sim.deliveries
    assert first.done.wait(10) and first.status == 200
    assert secrets.get_secret("tunnel_authtoken", data_dir=sim_config.data_dir) == "owner-ngrok-token"


def test_the_tunnel_opens_again_at_the_next_start_at_its_static_domain(sim, sim_config, start_engine):
    eng = start_engine(sim_config, workers=False)
    address = open_public_address(eng, tunnel=True, provider=LoopbackTunnels(), tunnel_authtoken="owner-ngrok-token",
                                  tunnel_domain="atlas-cafe.ngrok.app")
    assert not load_config({"data_dir": sim_config.data_dir}, environ={}).tunnel  # not before Meta is told
    (number, _) = find_numbers(eng.cfg, waba_id=WABA)
    subscribe_number(eng, number=number, callback_url=address.callback_url)
    eng.stop()
    after_restart = load_config({"data_dir": sim_config.data_dir}, environ={})
    assert after_restart.tunnel and after_restart.tunnel_domain == "atlas-cafe.ngrok.app"
    assert after_restart.tunnel_authtoken == "owner-ngrok-token"
    tunnels = LoopbackTunnels()
    # (this test's app secret and token came with its config, not from the keyring: so they go with the restart)
    restart = after_restart.with_changes(graph_url=sim_config.graph_url, app_secret=sim_config.app_secret,
                                         access_token=sim_config.access_token)
    again = MediaDeskEngine(restart, tunnels=tunnels)
    try:
        again.start(workers=False)
        wait_until(lambda: again.tunnel is not None, timeout=10, what="the tunnel to open again")
        assert tunnels.opened == [again.tunnel.url] and again.tunnel_problem is None
        finding = next(f for f in again.health_check().findings if f.name == "Public address")
        assert finding.ok and finding.value == again.tunnel.url
        assert post_webhook(again.tunnel.url, text_message("after a restart"), secret=APP_SECRET).status_code == 200
    finally:
        again.stop()
    # An address of the owner's own needs nothing at start: the tunnel is not opened any more.
    eng = start_engine(restart.with_changes(tunnel=False), workers=False)
    eng.reconfigure(eng.cfg.with_changes(tunnel=True))  # as loaded from the file: set to reopen
    own = open_public_address(eng, own_url=eng.listener.address + "/webhook")
    subscribe_number(eng, number=number, callback_url=own.callback_url)
    assert not load_config({"data_dir": sim_config.data_dir}, environ={}).tunnel


def test_a_tunnel_that_does_not_reopen_is_a_health_finding_in_words(sim_config):
    class Offline:
        name = "ngrok"

        def open(self, local_address, *, authtoken, domain):
            raise TunnelError("the tunnel could not reach ngrok: check this computer's internet connection",
                              reason="network")

    eng = MediaDeskEngine(sim_config.with_changes(tunnel=True, tunnel_authtoken="t"), tunnels=Offline())
    try:
        eng.start(workers=False)
        wait_until(lambda: eng.tunnel_problem is not None, timeout=10, what="the failed reopening")
        finding = next(f for f in eng.health_check().findings if f.name == "Public address")
        assert not finding.ok and "internet connection" in finding.detail
        assert post_webhook(eng.listener.address, text_message("still local"), secret=APP_SECRET).status_code == 200
    finally:
        eng.stop()


@pytest.mark.parametrize(("kwargs", "reason", "words"), [
    ({"own_url": "https://bakery.example.com/webhook"}, "secret", "forged"),
    ({"tunnel": True}, "secret", "without the app secret"),
    ({}, "callback", "give the https address"),
])
def test_no_public_address_without_an_app_secret(sim, sim_config, start_engine, kwargs, reason, words):
    eng = start_engine(sim_config.with_changes(app_secret=None), workers=False)
    tunnels = LoopbackTunnels()
    with pytest.raises(ConnectError, match=words) as caught:
        open_public_address(eng, provider=tunnels, **kwargs)
    assert caught.value.reason == reason and tunnels.opened == [] and eng.tunnel is None


def test_an_address_that_does_not_lead_here_fails_its_self_test(sim, sim_config, start_engine):
    eng = start_engine(sim_config, workers=False)
    with pytest.raises(ConnectError, match="self-test through http://127.0.0.1:9/webhook failed: nothing answers"):
        open_public_address(eng, own_url="http://127.0.0.1:9/webhook")
