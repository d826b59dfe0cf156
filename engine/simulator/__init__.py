"""The project's own WhatsApp Cloud API simulator: Graph media endpoints, faults, signed webhooks, and
the business side a connect wizard talks to (numbers, accounts, subscriptions with the verify handshake).

Tests, benchmarks and `mediadesk demo` run the real engine against it on loopback:

    with CloudSimulator() as sim:
        sim.add_media("1234567890123456", "image/jpeg", fault=Fault.preset("slow"))
        body = media_message("image", "1234567890123456", "image/jpeg", caption="Our cake")
        WebhookSender(listener_url, app_secret).send(body)

Nothing here imports Qt: the engine stays headless.
"""

from engine.simulator.accounts import SimulatedNumber, Subscription, Verification
from engine.simulator.demo import DemoScenario, demo_events
from engine.simulator.faults import OVERSIZE_BYTES, PRESETS, Fault
from engine.simulator.graph import DEFAULT_ACCESS_TOKEN, DEFAULT_GRAPH_VERSION, CloudSimulator
from engine.simulator.handler import graph_error
from engine.simulator.payloads import (
    MessageFields,
    echo_message,
    envelope,
    error_message_131052,
    inbound,
    location_message,
    media_message,
    message_of,
    new_wamid,
    reaction_message,
    status_update,
    text_message,
)
from engine.simulator.samples import sample_bytes, samples_dir
from engine.simulator.sender import WebhookSender, sign
from engine.simulator.state import DEFAULT_URL_TTL, SimulatedMedia

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_GRAPH_VERSION",
    "DEFAULT_URL_TTL",
    "OVERSIZE_BYTES",
    "PRESETS",
    "CloudSimulator",
    "DemoScenario",
    "Fault",
    "MessageFields",
    "SimulatedMedia",
    "SimulatedNumber",
    "Subscription",
    "Verification",
    "WebhookSender",
    "demo_events",
    "echo_message",
    "envelope",
    "error_message_131052",
    "graph_error",
    "inbound",
    "location_message",
    "media_message",
    "message_of",
    "new_wamid",
    "reaction_message",
    "sample_bytes",
    "samples_dir",
    "sign",
    "status_update",
    "text_message",
]
