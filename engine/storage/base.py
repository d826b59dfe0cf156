"""The one contract every storage backend keeps (local disk, S3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

TEMP_SUFFIX = ".part"


@dataclass(frozen=True)
class StoredFile:
    path: str  # what goes into chat_media.path: relative to the data dir (local) or the S3 key
    location: str  # chat_media.location: "local" | "amazon"


class Storage(Protocol):
    location: str

    def temp_dir(self, key: str) -> Path:
        """Where to stream a download for `key` before it is stored (beside it, for local disk)."""

    def store(self, temp_file: Path, key: str, *, content_type: str) -> StoredFile:
        """Move a finished, verified temp file to `key`; atomic: readers see all of it or nothing."""

    def exists(self, path: str) -> bool:
        """Whether a stored file is still there."""

    def read_bytes(self, path: str) -> bytes:
        """The stored file's bytes (for the console to show it)."""

    def local_path(self, path: str) -> Path | None:
        """The file on this disk, where there is one (local storage), for Open / Show in folder."""

    def test_connection(self) -> str:
        """Check that storing can work; returns a short description, raises StorageError if not."""
