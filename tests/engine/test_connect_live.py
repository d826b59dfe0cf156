"""Connecting from inside the running engine (the wizard's steps), against the simulator's Meta over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mediadesk_testkit import ACCESS_TOKEN, APP_SECRET, sql, wait_until

from engine import secrets
from engine.config import load_config
from engine.connect_live import find_numbers, open_public_address, subscribe_number
from engine.errors import ConnectError
from engine.simulator import CloudSimulator
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
