"""A Graph API media endpoint on loopback that keeps Meta's documented contract.

`GET /{version}/{media_id}` with `Authorization: Bearer <token>` answers the media's metadata and
a short-lived URL; that URL serves the bytes, again only with the token, only until it expires.
Errors use Graph's JSON error shape. Per-media `Fault`s reproduce what goes wrong in production,
and per-media counters let tests see exactly how often the downloader asked.

It runs on the standard library alone (a `ThreadingHTTPServer` in a daemon thread) so tests, the
demo and benchmarks can start one in milliseconds, anywhere, with no network. What it knows lives in
`engine.simulator.state`; how it answers HTTP, in `engine.simulator.handler`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from types import TracebackType

from engine.config import GRAPH_API_VERSION
from engine.simulator.accounts import BusinessAccounts, Delivery, SimulatedNumber, Subscription, Verification
from engine.simulator.faults import Fault
from engine.simulator.handler import SimulatorServer, handler_for
from engine.simulator.state import DEFAULT_URL_TTL, MediaStore, SimulatedMedia

log = logging.getLogger(__name__)

DEFAULT_ACCESS_TOKEN = "SIMULATOR-ACCESS-TOKEN"
DEFAULT_GRAPH_VERSION = GRAPH_API_VERSION  # what the engine asks for by default, so tests use it too

class CloudSimulator:
    """Meta's media endpoints on 127.0.0.1, with faults and call counters per media id.

    >>> with CloudSimulator() as sim:
    ...     sim.add_media("1234", "image/jpeg")
    ...     graph_url = sim.base_url  # point the engine's graph_url here, token sim.access_token

    `version` is only what clients are told to use: any `vNN.N` path segment is served, as Graph
    serves every supported version.

    Meta's business side plays along: `add_number` puts a number in a WhatsApp Business Account, and
    subscribing that account verifies the callback, then (with `app_secret`) delivers a first webhook.
    """

    def __init__(self, *, access_token: str = DEFAULT_ACCESS_TOKEN, url_ttl: float = DEFAULT_URL_TTL,
                 host: str = "127.0.0.1", port: int = 0, version: str = DEFAULT_GRAPH_VERSION,
                 app_secret: str | None = None, first_webhook: bool = True) -> None:
        self.access_token = access_token
        self.version = version
        self.store = MediaStore(url_ttl=url_ttl)
        self.accounts = BusinessAccounts(app_secret=app_secret, first_webhook=first_webhook)
        self._address = (host, port)
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> str:
        """Listen and serve in a daemon thread; returns the base URL, e.g. http://127.0.0.1:PORT."""
        if self._server is not None:
            return self.base_url
        server = SimulatorServer(self._address, handler_for(self))
        self._server = server
        # a short poll interval makes stop() (and so every test's teardown) take milliseconds
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cloud-simulator", daemon=True)
        self._thread.start()
        log.info("WhatsApp Cloud simulator listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving, cut slow or hung responses short and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CloudSimulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The Graph base URL (no version); only valid while started."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return self._server.base_url

    # media registry --------------------------------------------------------------------------
    @property
    def url_ttl(self) -> float:
        return self.store.url_ttl

    @url_ttl.setter
    def url_ttl(self, value: float) -> None:
        self.store.url_ttl = value

    def add_media(self, media_id: str, mime: str, data: bytes | None = None, *, fault: Fault | None = None,
                  ttl: float | None = None, size: int | None = None) -> SimulatedMedia:
        """Register a media; without `data`, a real sample file of that MIME unique to the id.

        `ttl` overrides the URL lifetime for this media; `size` zero-pads the body to that many
        bytes (large-file tests) without holding the padding in memory.
        """
        return self.store.add(media_id, mime, data, fault=fault, ttl=ttl, size=size)

    def remove_media(self, media_id: str) -> None:
        """Forget a media, as Meta does once the sender deletes it or 30 days pass: 404 from now on."""
        self.store.remove(media_id)

    def set_fault(self, media_id: str, fault: Fault | None) -> None:
        """Change a registered media's fault, e.g. heal it so a Retry succeeds."""
        self.store.set_fault(media_id, fault)

    def media(self, media_id: str) -> SimulatedMedia:
        """The registered media (KeyError when unknown)."""
        return self.store.get(media_id)

    @property
    def metadata_calls(self) -> Counter[str]:
        return self.store.metadata_calls

    @property
    def download_calls(self) -> Counter[str]:
        return self.store.download_calls

    @property
    def downloads_completed(self) -> Counter[str]:
        return self.store.downloads_completed

    def reset_counters(self) -> None:
        """Zero every call counter, so a test can count one phase on its own."""
        self.store.reset_counters()

    # business accounts ---------------------------------------------------------------------------
    def add_number(self, waba_id: str, phone_number_id: str, *, display_phone_number: str = "+1 555-078-3881",
                   verified_name: str = "Simulated Bakery", quality_rating: str = "GREEN") -> SimulatedNumber:
        """A business number in account `waba_id`, shown by `GET /{phone-number-id}` and `/{waba-id}/phone_numbers`."""
        return self.accounts.add_number(waba_id, phone_number_id, display_phone_number=display_phone_number,
                                        verified_name=verified_name, quality_rating=quality_rating)

    def deny_permission(self, waba_id: str) -> None:
        """The token may no longer manage this account: its edges answer Graph code 200."""
        self.accounts.deny(waba_id)

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """WABA id -> the app's subscription, with the override callback Meta verified."""
        return self.accounts.subscriptions

    @property
    def verifications(self) -> list[Verification]:
        """Every verify handshake made with a callback, in order."""
        return self.accounts.verifications

    @property
    def deliveries(self) -> list[Delivery]:
        """The first webhooks sent after subscriptions (each `done` once the listener answered)."""
        return self.accounts.deliveries
