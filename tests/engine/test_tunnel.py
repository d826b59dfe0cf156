"""The built-in tunnel's seam and its webhook-only listener, over real HTTP on loopback.

ngrok itself cannot be reached from here: `LoopbackTunnels` (the seam's double, public address = the local one)
and providers that fail the way ngrok does stand in for it; everything around them is real.
"""

from __future__ import annotations

import pytest
import requests
from mediadesk_testkit import APP_SECRET, VERIFY_TOKEN, post_webhook, sql, wait_until

from engine.errors import TunnelError
from engine.simulator import text_message
from engine.tunnel import LoopbackTunnels, NgrokTunnels, OpenedTunnel, ngrok_refusal


class RefusingTunnels:
    """A provider failing as the ngrok SDK does: a ValueError with its message and cause."""

    name = "ngrok"

    def __init__(self, *args: str) -> None:
        self.args = args

    def open(self, local_address: str, *, authtoken: str | None, domain: str | None) -> OpenedTunnel:
        raise ngrok_refusal(ValueError(*self.args), domain=domain)


def _local(eng) -> str:
    return eng.listener.address


def test_the_public_address_reaches_the_webhook_and_nothing_else(ingest_engine):
    tunnels = LoopbackTunnels()
    tunnel = ingest_engine.open_tunnel(provider=tunnels, authtoken="owner-token")
    assert tunnel.url != _local(ingest_engine) and tunnel.url.startswith("http://127.0.0.1:")
    for path in ("/healthz", "/metrics", "/", "/webhook/../healthz"):
        assert requests.get(tunnel.url + path, timeout=5).status_code == 404, path
    assert requests.get(_local(ingest_engine) + "/healthz", timeout=5).status_code == 200  # still on this computer
    # the handshake and signed webhooks go through, unsigned ones do not
    ok = requests.get(tunnel.webhook_url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                  "hub.challenge": "4242"}, timeout=5)
    assert (ok.status_code, ok.text) == (200, "4242")
    body = text_message("through the tunnel", wa_id="15550001111", name="Ana")
    assert post_webhook(tunnel.url, body, secret="forged").status_code == 403
    assert post_webhook(tunnel.url, body, secret=APP_SECRET).status_code == 200
    rows = sql(ingest_engine.cfg.db_path, "select body from chats")
    assert [r["body"] for r in rows] == ["through the tunnel"]
    ingest_engine.close_tunnel()
    assert tunnels.closed == tunnels.opened
    with pytest.raises(requests.ConnectionError):
        requests.get(tunnel.webhook_url, timeout=5)


def test_no_tunnel_opens_without_an_app_secret(config, start_engine):
    eng = start_engine(config.with_changes(app_secret=None), workers=False)
    tunnels = LoopbackTunnels()
    with pytest.raises(TunnelError, match="without the app secret") as caught:
        eng.open_tunnel(provider=tunnels, authtoken="owner-token")
    assert caught.value.reason == "secret" and tunnels.opened == [] and eng.tunnel is None


@pytest.mark.parametrize(("args", "domain", "reason", "words"), [
    (("failed to connect session", "failed to establish tcp connection"), None, "network", "internet connection"),
    (("failed to connect session", "authentication failed: The authtoken you specified is not valid",
      "ERR_NGROK_107"), None, "authtoken", "copy it again"),
    (("failed to start listener", "domain is not reserved", "ERR_NGROK_320"), "bakery.ngrok.app", "domain",
     "bakery.ngrok.app"),
    (("failed to connect session", "limited to 1 simultaneous session", "ERR_NGROK_108"), None, "tunnel",
     "one tunnel at a time"),
])
def test_a_tunnel_that_fails_says_why_and_the_local_listener_keeps_working(ingest_engine, args, domain, reason,
                                                                           words):
    threads_before = ingest_engine.listener
    with pytest.raises(TunnelError, match=words) as caught:
        ingest_engine.open_tunnel(provider=RefusingTunnels(*args), authtoken="owner-token", domain=domain)
    assert caught.value.reason == reason and "\n" not in str(caught.value)
    assert ingest_engine.tunnel is None and ingest_engine.listener is threads_before
    assert requests.get(_local(ingest_engine) + "/healthz", timeout=5).status_code == 200
    assert post_webhook(_local(ingest_engine), text_message("still here", wa_id="15550001111")).status_code == 200


def test_the_real_provider_says_why_before_going_online():
    with pytest.raises(TunnelError, match="needs your ngrok authtoken") as caught:
        NgrokTunnels().open("127.0.0.1:9", authtoken=None, domain=None)
    assert caught.value.reason == "authtoken"


def test_the_real_provider_offline_is_a_network_sentence():
    """The ngrok SDK itself, with no way out to the internet (this machine): refused in words, quickly."""
    pytest.importorskip("ngrok")
    try:
        requests.head("https://connect.ngrok-agent.com", timeout=3)
    except requests.RequestException:
        pass
    else:
        pytest.skip("this machine reaches ngrok: the offline sentence cannot be checked here")
    with pytest.raises(TunnelError) as caught:
        NgrokTunnels().open("127.0.0.1:9", authtoken="not-a-real-token", domain=None)
    assert caught.value.reason in ("network", "tunnel") and "ngrok" in str(caught.value)


def test_a_new_verify_token_and_secret_reach_the_open_tunnel(ingest_engine):
    tunnel = ingest_engine.open_tunnel(provider=LoopbackTunnels(), authtoken="owner-token")
    ingest_engine.reconfigure(ingest_engine.cfg.with_changes(verify_token="fresh-token", app_secret="new-secret"))
    ok = requests.get(tunnel.webhook_url, params={"hub.mode": "subscribe", "hub.verify_token": "fresh-token",
                                                  "hub.challenge": "7"}, timeout=5)
    assert (ok.status_code, ok.text) == (200, "7")
    body = text_message("signed anew", wa_id="15550002222")
    assert post_webhook(tunnel.url, body, secret=APP_SECRET).status_code == 403
    assert post_webhook(tunnel.url, body, secret="new-secret").status_code == 200
    wait_until(lambda: sql(ingest_engine.cfg.db_path, "select 1 from chats where body = 'signed anew'"),
               what="the webhook through the tunnel stored")
    # taking the secret away closes the public address: never open without signatures
    notes = ingest_engine.reconfigure(ingest_engine.cfg.with_changes(app_secret=None))
    assert ingest_engine.tunnel is None and any("public address was closed" in n for n in notes)
    with pytest.raises(requests.ConnectionError):
        requests.get(tunnel.webhook_url, timeout=5)
