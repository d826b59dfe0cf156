"""Local disk storage under `{data_dir}/uploads`, written by atomic rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from engine.errors import StorageError
from engine.storage.base import TEMP_SUFFIX, StoredFile


class LocalStorage:
    location = "local"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()

    def _resolve(self, key: str) -> Path:
        target = (self.data_dir / key).resolve()
        if not target.is_relative_to(self.data_dir / "uploads"):
            raise StorageError(f"refusing to store outside the uploads folder: {key!r}")
        return target

    def temp_dir(self, key: str) -> Path:
        folder = self._resolve(key).parent
        try:
            _make_dirs_durably(folder)
        except OSError as exc:  # ENOSPC among others: the caller maps the cause (`from exc`) to a reason
            raise StorageError(f"could not make the folder {folder.name}: {exc.strerror or exc}") from exc
        return folder

    def store(self, temp_file: Path, key: str, *, content_type: str) -> StoredFile:
        target = self._resolve(key)
        try:
            _make_dirs_durably(target.parent)
            # Atomic on one filesystem: never a half file under its name. The file's bytes were synced by the
            # writer; the rename lives in the directory, which is synced too before the caller commits
            # `completed`, so a power cut cannot leave a completed row without its file.
            os.replace(temp_file, target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"could not save {target.name}: {exc.strerror or exc}") from exc
        return StoredFile(path=key, location=self.location)

    def exists(self, path: str) -> bool:
        p = self.local_path(path)
        return bool(p and p.is_file())

    def read_bytes(self, path: str) -> bytes:
        p = self.local_path(path)
        if p is None:
            raise StorageError(f"not a local file: {path}")
        try:
            return p.read_bytes()
        except OSError as exc:
            raise StorageError(f"could not read {p.name}: {exc.strerror or exc}") from exc

    def local_path(self, path: str) -> Path | None:
        p = Path(path)
        return p if p.is_absolute() else self.data_dir / p

    def test_connection(self) -> str:
        folder = self.data_dir / "uploads"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, suffix=TEMP_SUFFIX):
                pass
        except OSError as exc:
            raise StorageError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
        return f"local folder {folder} is writable"


def fsync_dir(folder: Path) -> None:
    """Make the entries of `folder` (a rename, a new file or folder) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs_durably(folder: Path) -> None:
    """mkdir -p, syncing the parent of each folder it creates: a file in a new dated folder is only durable
    if the folder's own entry is. Costs nothing when the folder exists (the usual case)."""
    if folder.is_dir():
        return
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:  # another worker made it meanwhile
            pass
        fsync_dir(d.parent)
