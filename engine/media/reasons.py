"""Why a download failed: one short key per cause, stored in the row's metadata as `reason`, with the words
the console shows for it.

The values are a contract: stored rows, the metrics and the external contract's tests read them as they are.
Rows stored by older versions (or written by hand) may hold a key that is not here; `words_for` and
`label_for` still give them a readable line.
"""

from __future__ import annotations

from enum import StrEnum


class FailureReason(StrEnum):
    """A failed attempt's cause. `text` is the owner's sentence, `label` the few words a chart axis holds."""

    GONE = "gone"
    EXPIRED = "expired"
    EXPIRED_AT_META = "expired_at_meta"
    TOO_LARGE = "too_large"
    MIME_MISMATCH = "mime_mismatch"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    CHECKSUM = "checksum"
    TRUNCATED = "truncated"
    STORAGE = "storage"
    NETWORK = "network"
    TIMEOUT = "timeout"
    SERVER = "server"
    INTERNAL = "internal"
    # Faults of this machine, not of the media: retried for as long as Meta keeps the file (engine.dbfaults).
    DISK_FULL = "disk_full"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    # The stored file, found bad by `mediadesk verify` or the scrub after WhatsApp stopped keeping it.
    FILE_DAMAGED = "file_damaged"
    FILE_REMOVED = "file_removed"
    # The owner deleted the file (Media view > Delete): the message stays, Retry may fetch it again.
    DELETED = "deleted"
    # The MediaError classes' defaults, for an error raised without a reason of its own.
    ERROR = "error"
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"  # a failed row that records no reason (the metrics count those under this key)

    @property
    def text(self) -> str:
        return _WORDS[self][0]

    @property
    def label(self) -> str:
        return _WORDS[self][1]

    @property
    def is_generic(self) -> bool:
        """It says no more than "it failed": the row's own error sentence says more."""
        return self in _GENERIC

    @classmethod
    def of(cls, value: str | None) -> FailureReason | None:
        """The member stored as `value`, or None for a key this version does not know."""
        try:
            return cls(value)
        except ValueError:
            return None

    @classmethod
    def words_for(cls, value: str | None) -> str | None:
        """The owner's sentence for a stored reason key; None when the key is unknown or generic (show the
        row's error sentence instead)."""
        member = cls.of(value)
        return member.text if member is not None and not member.is_generic else None

    @classmethod
    def label_for(cls, value: str | None) -> str:
        """A chart label for a stored reason key (none: unknown); an unknown key is shown as its own words."""
        member = cls.of(value or cls.UNKNOWN)
        return member.label if member is not None else str(value).replace("_", " ")


_WORDS: dict[FailureReason, tuple[str, str]] = {
    FailureReason.GONE: ("Deleted by the sender or no longer on WhatsApp", "deleted / gone"),
    FailureReason.EXPIRED: ("The download link expired", "link expired"),
    FailureReason.EXPIRED_AT_META: ("The media expired: WhatsApp keeps it for 7 days only",
                                    "expired at Meta (7 days)"),
    FailureReason.TOO_LARGE: ("The file is too large", "file too large"),
    FailureReason.MIME_MISMATCH: ("The file was not what it claimed to be", "content is not its type"),
    FailureReason.AUTH: ("WhatsApp refused the access token (check Settings)", "access token refused"),
    FailureReason.RATE_LIMITED: ("WhatsApp was busy (too many requests)", "rate limited"),
    FailureReason.CHECKSUM: ("The download was damaged (checksum mismatch)", "checksum mismatch"),
    FailureReason.TRUNCATED: ("The download was damaged (cut short)", "download cut short"),
    FailureReason.STORAGE: ("The file could not be saved (disk or S3 problem)", "storage error"),
    FailureReason.NETWORK: ("Network problem while downloading", "network error"),
    FailureReason.TIMEOUT: ("Network problem: the download timed out", "timed out"),
    FailureReason.SERVER: ("Network problem: WhatsApp's server had an error", "WhatsApp server error"),
    FailureReason.INTERNAL: ("MediaDesk had an internal error (see the log)", "internal error"),
    FailureReason.DISK_FULL: ("The disk is full: it is fetched again once there is space", "disk full"),
    FailureReason.STORAGE_UNAVAILABLE: ("The storage is unavailable (disk or S3): it is tried again",
                                        "storage unavailable"),
    FailureReason.DATABASE_UNAVAILABLE: ("The database is busy or unavailable: it is tried again",
                                         "database unavailable"),
    FailureReason.FILE_DAMAGED: ("The stored file is damaged", "stored file damaged"),
    FailureReason.FILE_REMOVED: ("The stored file was removed", "stored file removed"),
    FailureReason.DELETED: ("You deleted this file in MediaDesk", "deleted by you"),
    FailureReason.ERROR: ("The download failed", "error"),
    FailureReason.PERMANENT: ("The download failed and cannot succeed as it is", "failed for good"),
    FailureReason.TRANSIENT: ("The download failed for now", "temporary failure"),
    FailureReason.UNKNOWN: ("The download failed", "unknown"),
}
# Keys that say no more than "it failed".
_GENERIC = frozenset({FailureReason.ERROR, FailureReason.PERMANENT, FailureReason.TRANSIENT, FailureReason.UNKNOWN})
