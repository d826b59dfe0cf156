"""The simulator plays Meta's business side: numbers, accounts, subscriptions and the verify handshake.

Over real HTTP on loopback, with a real engine listener answering the handshake.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from mediadesk_testkit import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, listener_url, sql, wait_until

from engine.simulator import CloudSimulator

WABA, NUMBER = "104996122399160", "106540352242922"


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(access_token=ACCESS_TOKEN, app_secret=APP_SECRET) as running:
        running.add_number(WABA, NUMBER, display_phone_number="+212 6 12 34 56 78", verified_name="Atlas Cafe")
        yield running


def call(sim: CloudSimulator, method: str, path: str, *, token: str = ACCESS_TOKEN, **kw) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/{sim.version}/{path}", timeout=10,
                            headers={"Authorization": f"Bearer {token}"}, **kw)


def graph_code(resp: requests.Response) -> int:
    return resp.json()["error"]["code"]


def test_the_number_and_the_accounts_numbers_answer_as_meta_does(sim):
    resp = call(sim, "GET", NUMBER, params={"fields": "display_phone_number,verified_name,quality_rating"})
    assert resp.status_code == 200
    assert resp.json() == {"id": NUMBER, "display_phone_number": "+212 6 12 34 56 78", "verified_name": "Atlas Cafe",
                           "quality_rating": "GREEN"}
    listed = call(sim, "GET", f"{WABA}/phone_numbers").json()
    assert [n["id"] for n in listed["data"]] == [NUMBER]


def test_a_bad_token_is_190_an_unknown_object_100_a_missing_permission_200(sim):
    bad = call(sim, "GET", NUMBER, token="stolen")
    assert (bad.status_code, graph_code(bad)) == (401, 190)
    unknown = call(sim, "GET", "109999999999999")
    # an id it knows neither as a number nor as an account could be a media: the media route's 404 answers it
    assert (unknown.status_code, graph_code(unknown), unknown.json()["error"]["error_subcode"]) == (404, 100, 33)
    assert graph_code(call(sim, "GET", "109999999999999/phone_numbers")) == 100
    sim.deny_permission(WABA)
    assert graph_code(call(sim, "GET", f"{WABA}/phone_numbers")) == 200


def test_subscribing_verifies_the_listener_then_sends_a_first_webhook(sim, sim_config, start_engine):
    engine = start_engine(sim_config, workers=False)
    callback = listener_url(engine) + "/webhook"
    assert call(sim, "GET", f"{WABA}/subscribed_apps").json() == {"data": []}
    resp = call(sim, "POST", f"{WABA}/subscribed_apps",
                json={"override_callback_uri": callback, "verify_token": VERIFY_TOKEN})
    assert resp.json() == {"success": True}
    (check,) = sim.verifications
    assert check.ok and check.url == callback and check.verify_token == VERIFY_TOKEN
    assert sim.subscriptions[WABA].override_callback_uri == callback
    assert call(sim, "GET", f"{WABA}/subscribed_apps").json()["data"][0]["override_callback_uri"] == callback
    (first,) = sim.deliveries
    assert first.done.wait(10) and first.status == 200  # signed with the app secret: the listener took it
    rows = wait_until(lambda: sql(sim_config.db_path, "select w.phone_number_id from chats c join workspaces w "
                                                      "on w.id = c.workspace_id where c.wamid = ?", first.wamid),
                      what="the first webhook stored")
    assert rows[0][0] == NUMBER
    assert call(sim, "DELETE", f"{WABA}/subscribed_apps").json() == {"success": True}
    assert WABA not in sim.subscriptions


@pytest.mark.parametrize("token", ["not-the-listeners-token", None])
def test_a_callback_that_fails_the_handshake_is_2200_and_nothing_is_kept(sim, sim_config, start_engine, token):
    engine = start_engine(sim_config, workers=False)
    callback = listener_url(engine) + "/webhook"
    if token is None:  # nothing listening there at all
        callback, token = "http://127.0.0.1:9/webhook", VERIFY_TOKEN
    resp = call(sim, "POST", f"{WABA}/subscribed_apps", data={"override_callback_uri": callback, "verify_token": token})
    assert (resp.status_code, graph_code(resp)) == (400, 2200)
    assert "Callback verification failed" in resp.json()["error"]["message"]
    assert not sim.verifications[-1].ok and WABA not in sim.subscriptions and not sim.deliveries


def test_only_https_callbacks_are_taken_off_loopback(sim):
    resp = call(sim, "POST", f"{WABA}/subscribed_apps",
                json={"override_callback_uri": "http://example.com/webhook", "verify_token": "t"})
    assert (resp.status_code, graph_code(resp)) == (400, 100) and not sim.verifications


def test_a_two_step_meta_keeps_the_plain_subscription_when_the_override_fails(sim):
    sim.accounts.subscribe_before_verifying = True
    resp = call(sim, "POST", f"{WABA}/subscribed_apps",
                json={"override_callback_uri": "http://127.0.0.1:9/webhook", "verify_token": "t"})
    assert graph_code(resp) == 2200
    assert sim.subscriptions[WABA].override_callback_uri is None  # the client has to DELETE it
