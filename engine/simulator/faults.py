"""Fault profiles: the ways Meta's media endpoints misbehave, one frozen value per media.

A fault is attached to a media when it is registered on the simulator, so one simulator can serve a
healthy image next to a deleted one. Every profile reproduces something a downloader meets in
production: a slow CDN, a burst of 5xx, a revoked token, a media the sender deleted, a connection
cut mid-body, a digest that does not match, a file too large to accept, bytes that contradict the
declared type, a Graph call that hangs, a URL that expired before it was used.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

OVERSIZE_BYTES = 200 * 1024 * 1024
"""What an `oversize` media claims as its file_size: twice the 100 MB cap Meta and MediaDesk use."""


@dataclass(frozen=True)
class Fault:
    """How one media's metadata call and download misbehave; the default misbehaves in no way.

    Metadata call (`GET /{version}/{media_id}`):
      - `fail_first` / `burst_5xx`: the first N calls answer 500 (a transient Graph outage);
        `burst_5xx` is an alias, the larger of the two wins.
      - `rate_limit_first`: the first N calls answer 429, Graph code 80007 ("rate limit issues"), with a
        `Retry-After` of `retry_after_s` seconds when that is set.
      - `status`: every call answers this status with Graph's error body (401, 404, 429, 500...).
      - `timeout_s`: wait this long before answering (a hung Graph call).
      - `wrong_sha256`: the digest does not match the bytes.
      - `sha256_base64`: the digest is written base64, as Meta sometimes does, not hex.
      - `oversize`: claims a file_size of 200 MB.
      - `expire_s`: the download URL lives this long (0: expired on arrival).
    Download (the URL the metadata call returned):
      - `dl_fail_first`: the first N downloads answer 500, the media itself stays good.
      - `slow_bps`: trickle the body at this many bytes per second.
      - `truncate`: announce the full Content-Length, then close after half the bytes.
      - `lying_mime`: serve bytes of another type (a PDF for an image) under the declared MIME.
    """

    slow_bps: int | None = None
    fail_first: int = 0
    burst_5xx: int = 0
    rate_limit_first: int = 0
    retry_after_s: float | None = None
    status: int | None = None
    dl_fail_first: int = 0
    truncate: bool = False
    wrong_sha256: bool = False
    sha256_base64: bool = False
    oversize: bool = False
    lying_mime: bool = False
    timeout_s: float = 0.0
    expire_s: float | None = None

    def __post_init__(self) -> None:
        if self.slow_bps is not None and self.slow_bps <= 0:
            raise ValueError("slow_bps must be a positive number of bytes per second")
        for name in ("fail_first", "burst_5xx", "rate_limit_first", "dl_fail_first"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")

    @property
    def failing_metadata_calls(self) -> int:
        """How many metadata calls answer 500 before the media is served normally."""
        return max(self.fail_first, self.burst_5xx)

    @property
    def is_healthy(self) -> bool:
        """True when this fault changes nothing, so logs and the demo can skip it."""
        return self == Fault()

    @classmethod
    def preset(cls, name: str) -> Fault:
        """A named, ready-made profile ("slow", "5xx", "401", ...); see `PRESETS` for the list."""
        try:
            return PRESETS[name]
        except KeyError:
            known = ", ".join(sorted(PRESETS))
            raise ValueError(f"unknown fault preset {name!r}; known presets: {known}") from None

    def describe(self) -> str:
        """A short human description of the non-default settings, for logs and test ids."""
        default = Fault()
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ", ".join(parts) or "healthy"


PRESETS: dict[str, Fault] = {
    # ~50 KB/s: a small photo takes about half a second, a video shows its progress bar.
    "slow": Fault(slow_bps=50_000),
    # Two failures then success: a downloader with retries recovers, one without does not.
    "5xx": Fault(fail_first=2),
    # Graph's throttle: one 429 asking for a 1 s pause, then served.
    "rate_limited": Fault(rate_limit_first=1, retry_after_s=1.0),
    "401": Fault(status=401),
    "404": Fault(status=404),
    "truncated": Fault(truncate=True),
    "wrong_sha256": Fault(wrong_sha256=True),
    "oversize": Fault(oversize=True),
    "lying_mime": Fault(lying_mime=True),
    # Longer than any sane client read timeout; the simulator cuts it short when it stops.
    "timeout": Fault(timeout_s=60.0),
    "expired": Fault(expire_s=0.0),
}
"""Named profiles for `Fault.preset`, command-line flags and parametrised tests."""
