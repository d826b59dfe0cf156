"""Demo mode's headless glue: a Cloud simulator standing in for Meta, and its story sent as webhooks.

`mediadesk demo` (the console with this) shows a newcomer the whole pipeline on their own machine:

    runner = DemoRunner(cfg)
    cfg = runner.start()                  # simulator up; cfg now points the engine at it
    engine = MediaDeskEngine(cfg); engine.start()
    runner.feed(engine.listener.address)  # webhooks arrive on a background thread
    ...
    runner.stop()

No Qt here: the same runner drives tests and benchmarks.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time

from engine.config import Config
from engine.simulator import CloudSimulator, WebhookSender, demo_events, payloads
from engine.simulator.demo import CONTACTS

log = logging.getLogger(__name__)

DEMO_APP_SECRET = "mediadesk-demo-app-secret"
DEMO_VERIFY_TOKEN = "mediadesk-demo-verify-token"
LIVE_TAIL = 5
"""The last few messages arrive one by one at the demo's pace, so the owner sees bubbles appear."""


def _port_free(host: str, port: int) -> bool:
    try:
        with socket.create_server((host, port)):
            return True
    except OSError:
        return False


class DemoRunner:
    """Starts the simulator, gives the engine its settings, feeds the demo's webhooks to the listener."""

    def __init__(self, cfg: Config, *, pace: float = 1.2, history_pace: float = 0.04, seed: int | None = 7) -> None:
        self.cfg = cfg
        self.pace = pace
        self.history_pace = history_pace
        self.seed = seed  # a fixed seed: a second run re-sends the same wamids, which the engine ignores
        self.sim = CloudSimulator()
        self.done = threading.Event()
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Config:
        """Start the simulator; return `cfg` pointed at it (Graph URL, token, secrets, a free port)."""
        base = self.sim.start()
        port = self.cfg.port if self.cfg.port and _port_free(self.cfg.host, self.cfg.port) else 0
        self.cfg = self.cfg.with_changes(graph_url=base, graph_version=self.sim.version,
                                         access_token=self.sim.access_token, app_secret=DEMO_APP_SECRET,
                                         verify_token=DEMO_VERIFY_TOKEN, port=port)
        log.info("demo: WhatsApp Cloud simulator on %s", base)
        return self.cfg

    def bodies(self) -> list[dict]:
        """The demo's webhook bodies in order, every media registered on the simulator."""
        bodies = list(demo_events(self.sim, seed=self.seed))
        # Mateo's photo was deleted before it could be downloaded (a failed media with a reason); he
        # sends it again and that one arrives: the pair shows both states side by side.
        rng = random.Random(None if self.seed is None else self.seed * 7919 + 1)  # not the scenario's stream
        mateo = CONTACTS["mateo"]
        media_id = str(rng.randrange(10**15, 10**16))
        registered = self.sim.add_media(media_id, "image/jpeg")
        again = payloads.media_message(
            "image", media_id, "image/jpeg", caption="Here it is again: the rye sourdough 🙂",
            sha256=registered.sha256_base64, wa_id=mateo.wa_id, name=mateo.name,
            wamid=payloads.new_wamid(mateo.wa_id, rng), timestamp=int(time.time() - 894 * 60))
        at = next((i for i, b in enumerate(bodies) if _timestamp(b) > _timestamp(again)), len(bodies))
        bodies.insert(at, again)
        return bodies

    def feed(self, listener_address: str) -> threading.Thread:
        """Send the bodies to `{listener_address}/webhook` on a background thread."""
        bodies = self.bodies()
        url = f"{listener_address}/webhook"

        def run() -> None:
            with WebhookSender(url, DEMO_APP_SECRET) as sender:
                for i, body in enumerate(bodies):
                    if self._stop.is_set():
                        break
                    live = i >= len(bodies) - LIVE_TAIL
                    if self._stop.wait(self.pace if live else self.history_pace):
                        break
                    try:
                        status = sender.send(body)
                    except OSError as exc:
                        self.failed += 1
                        log.warning("demo: could not deliver a webhook: %s", exc)
                        continue
                    if status == 200:
                        self.sent += 1
                    else:
                        self.failed += 1
                        log.warning("demo: the listener answered %d", status)
                    log.debug("demo: webhook %d/%d delivered", i + 1, len(bodies))
            log.info("demo: %d webhooks delivered, %d refused", self.sent, self.failed)
            self.done.set()

        self._thread = threading.Thread(target=run, name="mediadesk-demo", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.sim.stop()


def _timestamp(body: dict) -> int:
    return int(payloads.message_of(body).get("timestamp", 0))
