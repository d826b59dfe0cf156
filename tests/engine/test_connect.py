"""Connecting a number, against the simulator's Meta over real HTTP, with a real engine listener on loopback."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mediadesk_testkit import (
    ACCESS_TOKEN,
    APP_SECRET,
    MEDIADESK_BIN,
    VERIFY_TOKEN,
    listener_url,
    sql,
    wait_until,
)

from engine import secrets
from engine.config import Config
from engine.connect import check_callback_url, connect_number
from engine.errors import ConnectError
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator

WABA, NUMBER, OTHER_WABA, OTHER_NUMBER = "104996122399160", "106540352242922", "204996122399160", "206540352242922"


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    """Meta, holding two accounts with a number each; it signs its webhooks with the listener's app secret."""
    with CloudSimulator(access_token=ACCESS_TOKEN, app_secret=APP_SECRET) as running:
        running.add_number(WABA, NUMBER, display_phone_number="+212 6 12 34 56 78", verified_name="Atlas Cafe")
        running.add_number(OTHER_WABA, OTHER_NUMBER, display_phone_number="+1 555-010-2222", verified_name="Other")
        yield running


@pytest.fixture
def listener(sim_config: Config, start_engine) -> MediaDeskEngine:
    return start_engine(sim_config, workers=False)


def callback(eng: MediaDeskEngine) -> str:
    return listener_url(eng) + "/webhook"


def workspaces(cfg: Config) -> list[dict]:
    return [dict(r) for r in sql(cfg.db_path, "select id, name, phone_number_id, waba_id, graph_api_version "
                                              "from workspaces order by id")]


def test_a_good_number_is_subscribed_verified_and_gets_its_workspace(sim, sim_config, listener):
    steps = []
    done = connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(listener),
                          on_step=steps.append)
    assert [s.step for s in steps] == ["callback", "number", "subscribe", "workspace"] == [s.step for s in done.steps]
    assert done.describe().startswith("connected Atlas Cafe (+212 6 12 34 56 78) to http://127.0.0.1:")
    assert sim.subscriptions[WABA].override_callback_uri == callback(listener)
    assert sim.subscriptions[WABA].verify_token == VERIFY_TOKEN and sim.verifications[-1].ok
    (ws,) = workspaces(sim_config)
    assert ws == {"id": done.workspace.id, "name": "Atlas Cafe", "phone_number_id": NUMBER, "waba_id": WABA,
                  "graph_api_version": sim_config.graph_version}
    # Meta's first webhook after the handshake lands in that workspace
    (first,) = sim.deliveries
    assert first.done.wait(10) and first.status == 200
    rows = wait_until(lambda: sql(sim_config.db_path, "select workspace_id from chats where wamid = ?", first.wamid),
                      what="the first webhook stored")
    assert rows[0][0] == ws["id"]
    # connecting again changes nothing but the subscription's freshness
    again = connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(listener),
                           db=listener.db)
    assert again.workspace.id == ws["id"] and not again.workspace.created and len(workspaces(sim_config)) == 1


def test_the_name_the_owner_chose_is_kept_and_the_automatic_one_replaced(sim, sim_config, listener):
    with sqlite3.connect(sim_config.db_path) as c:  # the listener already migrated the database
        for pnid, name in ((NUMBER, "WhatsApp 212612345678"), (OTHER_NUMBER, "Rossi Bakery")):
            c.execute("insert into workspaces (name, phone_number_id, settings, created_at) "
                      "values (?, ?, '{}', current_timestamp)", (name, pnid))
    connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(listener))
    connect_number(sim_config, waba_id=OTHER_WABA, phone_number_id=OTHER_NUMBER, callback_url=callback(listener))
    assert [(w["name"], w["waba_id"]) for w in workspaces(sim_config)] == [("Atlas Cafe", WABA),
                                                                          ("Rossi Bakery", OTHER_WABA)]


@pytest.mark.parametrize(("change", "waba", "number", "reason", "words"), [
    ({"access_token": "revoked"}, WABA, NUMBER, "token", "access token"),
    ({}, WABA, "109999999999999", "number", "109999999999999"),
    ({}, "999", NUMBER, "account", "Business Account with id 999"),
    ({}, OTHER_WABA, NUMBER, "number", f"not in WhatsApp Business Account {OTHER_WABA}"),
    ({"verify_token": "not-the-listeners"}, WABA, NUMBER, "callback", "refuses the verify token"),
])
def test_a_refused_connect_says_why_in_one_sentence_and_changes_nothing(sim, sim_config, listener, change, waba,
                                                                       number, reason, words):
    with pytest.raises(ConnectError) as caught:
        connect_number(sim_config.with_changes(**change), waba_id=waba, phone_number_id=number,
                       callback_url=callback(listener))
    assert caught.value.reason == reason and words in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.step == ("subscribe" if reason == "callback" else "number")
    assert sim.subscriptions == {} and workspaces(sim_config) == []


def test_a_missing_permission_gets_its_own_sentence(sim, sim_config, listener):
    sim.deny_permission(WABA)
    with pytest.raises(ConnectError, match="whatsapp_business_management") as caught:
        connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(listener))
    assert caught.value.reason == "permission"


def test_a_callback_nobody_answers_leaves_no_subscription(sim, sim_config, listener):
    with pytest.raises(ConnectError, match="nothing answers at http://127.0.0.1:9/webhook") as caught:
        connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url="http://127.0.0.1:9/webhook")
    assert caught.value.reason == "callback" and sim.verifications and not sim.verifications[-1].ok
    assert sim.subscriptions == {} and workspaces(sim_config) == []


def test_a_subscription_meta_kept_after_a_failed_handshake_is_taken_back(sim, sim_config, listener):
    sim.accounts.subscribe_before_verifying = True
    with pytest.raises(ConnectError, match="nothing answers"):
        connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url="http://127.0.0.1:9/webhook")
    assert sim.subscriptions == {}


def test_a_failed_handshake_leaves_an_earlier_subscription_alone(sim, sim_config, listener):
    connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(listener))
    with pytest.raises(ConnectError):
        connect_number(sim_config, waba_id=WABA, phone_number_id=NUMBER, callback_url="http://127.0.0.1:9/webhook")
    assert sim.subscriptions[WABA].override_callback_uri == callback(listener)


@pytest.mark.parametrize(("url", "secret", "words"), [
    ("https://bakery.example.com/webhook", None, "without an app secret"),
    ("http://bakery.example.com/webhook", APP_SECRET, "only calls https"),
    ("ftp://127.0.0.1/webhook", APP_SECRET, "not an http(s) address"),
])
def test_a_public_address_needs_https_and_an_app_secret(sim, sim_config, url, secret, words):
    with pytest.raises(ConnectError, match=words.replace("(", r"\(").replace(")", r"\)")):
        connect_number(sim_config.with_changes(app_secret=secret), waba_id=WABA, phone_number_id=NUMBER,
                       callback_url=url)
    assert sim.verifications == [] and sim.subscriptions == {}  # refused before Meta was asked anything


def test_with_metas_own_graph_an_address_on_this_computer_is_refused_at_once(sim_config):
    cfg = sim_config.with_changes(graph_url="https://graph.facebook.com")  # never called: refused before
    with pytest.raises(ConnectError, match="Meta cannot reach http://127.0.0.1:8787/webhook") as caught:
        connect_number(cfg, waba_id=WABA, phone_number_id=NUMBER, callback_url="http://127.0.0.1:8787/webhook")
    assert (caught.value.reason, caught.value.step) == ("callback", "callback")


def test_loopback_addresses_need_no_secret():
    for url in ("http://127.0.0.1:8787/webhook", "http://localhost:8787/webhook", "http://[::1]:8787/webhook"):
        assert check_callback_url(url, app_secret=None).step == "callback"
    with pytest.raises(ConnectError) as caught:
        check_callback_url("https://tunnel.example.net/webhook", app_secret=None)
    assert caught.value.reason == "secret" and "forged" in str(caught.value)


def test_without_a_verify_token_one_is_made_and_saved_as_a_secret(sim, sim_config, start_engine):
    cfg = sim_config.with_changes(verify_token=None)
    before = start_engine(cfg, workers=False)  # a listener with no verify token: it cannot pass the handshake
    with pytest.raises(ConnectError, match="started before MediaDesk made its verify token; restart it"):
        connect_number(cfg, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(before))
    saved = secrets.get_secret("verify_token", data_dir=cfg.data_dir)
    assert saved and sim.verifications[-1].verify_token == saved and sim.subscriptions == {}
    before.stop()
    # restarted, the listener reads the saved token (as load_config would), and connecting goes through with it
    again = cfg.with_changes(verify_token=saved)
    eng = start_engine(again, workers=False)
    connect_number(again, waba_id=WABA, phone_number_id=NUMBER, callback_url=callback(eng))
    assert sim.subscriptions[WABA].verify_token == saved


def _cli(cfg: Config, sim: CloudSimulator, *args: str, token: str = ACCESS_TOKEN) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "MEDIADESK_DATA_DIR": str(cfg.data_dir), "MEDIADESK_GRAPH_URL": sim.base_url,
           "MEDIADESK_ACCESS_TOKEN": token, "MEDIADESK_APP_SECRET": APP_SECRET,
           "MEDIADESK_VERIFY_TOKEN": VERIFY_TOKEN}
    return subprocess.run([str(MEDIADESK_BIN), "connect", *args], capture_output=True, text=True, timeout=60, env=env)


def test_the_command_prints_connected_or_one_line_and_exits_non_zero(sim, sim_config, listener):
    args = ("--waba-id", WABA, "--phone-number-id", NUMBER, "--callback-url", callback(listener))
    refused = _cli(sim_config, sim, *args, token="revoked")
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr.strip().count("\n") == 0 and "access token" in refused.stderr
    ok = _cli(sim_config, sim, *args)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("connected Atlas Cafe (+212 6 12 34 56 78)")
    assert [w["name"] for w in workspaces(sim_config)] == ["Atlas Cafe"]


def test_the_verify_token_made_by_the_command_is_read_back_by_the_next_process(sim, sim_config, tmp_path: Path):
    cfg = sim_config
    env = {"PATH": "/usr/bin:/bin", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "MEDIADESK_DATA_DIR": str(cfg.data_dir), "MEDIADESK_GRAPH_URL": sim.base_url,
           "MEDIADESK_ACCESS_TOKEN": ACCESS_TOKEN}
    subprocess.run([str(MEDIADESK_BIN), "connect", "--waba-id", WABA, "--phone-number-id", NUMBER,
                    "--callback-url", "http://127.0.0.1:9/webhook"], capture_output=True, timeout=60, env=env)
    assert (cfg.data_dir / "secrets.json").is_file()
    assert secrets.get_secret("verify_token", data_dir=cfg.data_dir) == sim.verifications[-1].verify_token


def test_graph_out_of_reach_is_a_network_sentence(sim_config):
    cfg = sim_config.with_changes(graph_url="http://127.0.0.1:9")  # the discard port: nothing answers
    with pytest.raises(ConnectError, match="could not reach WhatsApp at http://127.0.0.1:9") as caught:
        connect_number(cfg, waba_id=WABA, phone_number_id=NUMBER, callback_url="http://127.0.0.1:8787/webhook")
    assert (caught.value.reason, caught.value.step) == ("network", "number")
    assert not cfg.db_path.exists()  # refused before the database was even opened
