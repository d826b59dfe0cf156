"""The engine's exceptions, in one tree, so callers catch by meaning rather than by library.

    MediaDeskError                 anything the engine raises on purpose
    ├── ConfigError                a setting that cannot work (bad port, unknown storage, bad TOML)
    ├── DatabaseError              the database cannot be opened, migrated, backed up or restored
    ├── StorageError               local disk or S3 refused a file
    ├── AlertError                 an alert could not reach the webhook or the mail server
    ├── ConnectError               connecting a WhatsApp number refused (`reason`: token, permission, number,
    │                              account, callback, secret, network, graph; `step`: which step refused)
    ├── TunnelError                the built-in tunnel did not open (`reason`: secret, authtoken, domain,
    │                              network, missing, tunnel); the local listener is untouched
    └── MediaError                 one download attempt failed
        ├── PermanentMediaError    retrying cannot fix it (bad token, media gone, too large, MIME lie)
        └── TransientMediaError    worth another attempt (5xx, timeout, expired link, truncated, hash)

Errors from requests, boto3 and SQLAlchemy are translated into these where they enter the engine, so
the console can show `str(error)` to a business owner as it is.
"""

from __future__ import annotations


class MediaDeskError(Exception):
    """Base of every error the engine raises on purpose; `str()` is fit to show a user."""


class ConfigError(MediaDeskError):
    pass


class DatabaseError(MediaDeskError):
    pass


class StorageError(MediaDeskError):
    pass


class AlertError(MediaDeskError):
    pass


class ConnectError(MediaDeskError):
    """Connecting a number was refused, and nothing was changed. `reason` names what is wrong: token,
    permission, number, account, callback, secret (no app secret for a public address), network, graph;
    `step` the step that refused (callback, number, subscribe, workspace), for a wizard's checklist."""

    def __init__(self, message: str, *, reason: str, step: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.step = step


class TunnelError(MediaDeskError):
    """The built-in tunnel did not open; `reason`: secret (no app secret), authtoken, domain, network,
    missing (the ngrok SDK is not installed), tunnel."""

    def __init__(self, message: str, *, reason: str = "tunnel") -> None:
        super().__init__(message)
        self.reason = reason


class MediaError(MediaDeskError):
    """A failed download attempt. `reason` is a short machine key the console maps to plain words."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class PermanentMediaError(MediaError):
    reason = "permanent"


class TransientMediaError(MediaError):
    """`retry_after`: seconds the server asked us to wait (Retry-After), when it said."""

    reason = "transient"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
