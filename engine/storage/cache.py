"""Stored files as the console shows them: read where they are kept, with a local copy of those on S3.

A console attached to a shared backend shows files that workers on other machines put in S3. Each is fetched
once into `{data_dir}/cache/` and read from there afterwards, so that scrolling back and forth through a chat does
not download its photos again. The copy is named by a digest of its key (S3 keys may hold any character) and the
folder is kept under a size limit, oldest read first out. Blocking: call it off the GUI thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from engine.errors import StorageError
from engine.storage.base import Storage

log = logging.getLogger(__name__)

MAX_CACHE_BYTES = 2 * 1024**3


class MediaCache:
    """`read_bytes(path, location)` and `local_file(path, location)` for any stored file, local or on S3."""

    def __init__(self, storage_for: Callable[[str], Storage], folder: Path, *,
                 max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.storage_for = storage_for
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # one prune at a time; fetches of different files run side by side

    def local_file(self, path: str, location: str, *, suffix: str = "") -> Path:
        """A file on this computer holding the stored file's bytes: the stored file itself, or its cached copy
        (named with `suffix`, so that a player or the desktop's "open" picks the right program)."""
        storage = self.storage_for(location)
        local = storage.local_path(path)
        if local is not None:
            return Path(local)
        copy = self._fetch(storage, path, location)
        if not suffix:
            return copy
        named = copy.with_name(copy.name + suffix)
        if not named.is_file():
            try:
                os.link(copy, named)  # S3 keys carry no suffix: the same bytes under a second name, for free
            except OSError:
                shutil.copyfile(copy, named)
        return named

    def _fetch(self, storage: Storage, path: str, location: str) -> Path:
        copy = self.folder / hashlib.sha256(f"{location}:{path}".encode()).hexdigest()[:32]
        if copy.is_file():
            os.utime(copy)  # read now: the last to be pruned
            return copy
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=self.folder)
        os.close(fd)
        try:
            download = getattr(storage, "download_to", None)  # S3 streams to the file; others hand over bytes
            if download is not None:
                download(path, Path(tmp))
            else:
                Path(tmp).write_bytes(storage.read_bytes(path))
            os.replace(tmp, copy)  # whole or not at all: a copy cut short is never served
        except OSError as exc:
            raise StorageError(f"could not keep a copy of {path} in {self.folder}: {exc.strerror or exc}") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)
        self._prune(keep=copy)
        return copy

    def read_bytes(self, path: str, location: str) -> bytes:
        storage = self.storage_for(location)
        if storage.local_path(path) is not None:
            return storage.read_bytes(path)
        return self.local_file(path, location).read_bytes()

    def _prune(self, *, keep: Path) -> None:
        with self._lock:
            try:
                files = [(f.stat().st_mtime, f.stat().st_size, f) for f in self.folder.iterdir()
                         if f.is_file() and not f.name.startswith(".") and f != keep]
            except OSError as exc:
                log.warning("could not look through the file cache %s: %s", self.folder, exc)
                return
            total = sum(size for _, size, _ in files) + keep.stat().st_size
            for _, size, f in sorted(files):
                if total <= self.max_bytes:
                    break
                f.unlink(missing_ok=True)
                total -= size
