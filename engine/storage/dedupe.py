"""Identical bytes stored once: hard links on local disk, one content-addressed object on S3.

Local disk keeps every row's own path (its name, its folder) and makes identical files hard links of
one inode. An index name per distinct content, `{data_dir}/media-index/sha256/ab/abcd...`, finds the
earlier copy in O(1) without asking the database (the digest is not an indexed column), so two
identical downloads finishing at the same moment still end up as one file: whichever links its file
into the index first wins, the other links to it. The index lives outside `uploads/`, which holds
exactly the rows' files; an index name left as a file's only link (its rows' names were removed by
something other than `release_local`) is pruned by the scrub (`prune_index`).

On S3 there are no links, so the object itself is content-addressed (the index key) and every row
with those bytes refers to it; `S3Storage.store_shared` uploads only when no whole copy is there.

Removing a name never removes bytes another name holds (that is what a hard link is); on S3 the
caller asks first whether another row still refers to the key (`engine.media.dedupe`).
"""

from __future__ import annotations

import filecmp
import hashlib
import logging
import os
import uuid
from pathlib import Path

from engine.errors import StorageError
from engine.storage.base import TEMP_SUFFIX, Storage, StoredFile
from engine.storage.local import LocalStorage

log = logging.getLogger(__name__)
INDEX_PREFIX = "uploads/media/sha256"  # S3: the one object of each content
INDEX_DIR = "media-index/sha256"  # local: under the data dir, beside (not in) uploads/
_CHUNK = 1024 * 1024
_warned = False


def _hex(sha256: str) -> str:
    digest = sha256.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a hex sha256 digest: {sha256!r}")
    return digest


def content_key(sha256: str) -> str:
    """The S3 key of the one object holding these bytes."""
    digest = _hex(sha256)
    return f"{INDEX_PREFIX}/{digest[:2]}/{digest}"


def index_path(storage: LocalStorage, sha256: str) -> Path:
    """The local index name of these bytes: one more hard link of the shared file."""
    digest = _hex(sha256)
    return storage.data_dir / INDEX_DIR / digest[:2] / digest


def store_once(storage: Storage, temp_file: Path, key: str, *, sha256: str, content_type: str) -> StoredFile:
    """Store a verified temp file like `storage.store`, keeping bytes that are already stored only once.

    `sha256` is the hex digest of the temp file, as the download measured it.
    """
    if isinstance(storage, LocalStorage):
        stored = storage.store(temp_file, key, content_type=content_type)
        share_identical(storage, stored.path, sha256)
        return stored
    store_shared = getattr(storage, "store_shared", None)
    if store_shared is not None:
        return store_shared(temp_file, content_key(sha256), sha256=sha256, content_type=content_type)
    return storage.store(temp_file, key, content_type=content_type)


def stored_copy(storage: Storage, *, sha256: str, size: int, head_bytes: int) -> tuple[Path, bytes] | None:
    """A whole stored copy of these bytes, checked, and its first `head_bytes`; None when there is none.

    `sha256` (hex) and `size` are what WhatsApp declares for a media about to be downloaded: a forwarded
    photo or a sticker sent again is already here. The copy is hashed again before it is trusted (a
    damaged copy is what a re-fetch replaces), which reads a local file at disk speed instead of fetching
    and syncing the same bytes again. Local disk only: an S3 object would have to be read over the network
    to be checked, which is what the download does anyway.
    """
    if not isinstance(storage, LocalStorage):
        return None
    try:
        index = index_path(storage, sha256)
        if index.stat().st_size != size:
            return None
        digest, head = _digest_and_head(index, head_bytes)
    except (OSError, ValueError):
        return None  # none indexed, or unreadable: the download stores its own
    return (index, head) if digest == sha256 else None


def link_copy(storage: LocalStorage, copy: Path, key: str) -> StoredFile | None:
    """Store `key` as one more name of the stored `copy` (from `stored_copy`); None when that failed
    (the copy was pruned meanwhile, a disk without hard links): the download then stores its own bytes."""
    target = storage.local_path(key)
    try:
        storage.temp_dir(key)  # its folder, made durably
        try:
            os.link(copy, target)
            _fsync_dir(target.parent)
        except FileExistsError:  # a repeated attempt: its name holds other bytes, or these already
            if not os.path.samefile(copy, target):
                _replace_with_link(copy, target)
    except (OSError, StorageError):
        return None
    return StoredFile(path=key, location=storage.location)


def file_sha256(path: Path) -> str:
    return _digest_and_head(path, 0)[0]


def _digest_and_head(path: Path, head_bytes: int) -> tuple[str, bytes]:
    """The file's hex sha256 and its first `head_bytes`, in one read through it."""
    h, head = hashlib.sha256(), b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            if len(head) < head_bytes:
                head += chunk[: head_bytes - len(head)]
            h.update(chunk)
    return h.hexdigest(), head


def share_identical(storage: LocalStorage, path: str, sha256: str) -> bool:
    """Make the stored file at `path` one inode with every other stored copy of the same bytes.

    Returns True when `path` now shares an earlier copy. Dedupe saves space but is never worth a file:
    any failure (a file system without hard links, a full disk) leaves `path` as it was, whole.
    """
    target = storage.local_path(path)
    if target is None:
        return False
    index = index_path(storage, sha256)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(target, index)  # the first copy of these bytes: it becomes the index
            return False
        except FileExistsError:
            pass
        if os.path.samefile(target, index):
            return True
        # The new file's bytes were verified against `sha256` as they came: the same bytes in the index are the
        # same content. A byte comparison stops at the first difference and costs a read, not a hash.
        if index.stat().st_size != target.stat().st_size or not filecmp.cmp(index, target, shallow=False):
            # The indexed copy was damaged or replaced (a re-fetch brings the good bytes here): the new
            # file becomes the index; rows still on the old inode are found by the next verify.
            _replace_with_link(target, index)
            return False
        _replace_with_link(index, target)
        return True
    except OSError as exc:
        global _warned
        # A disk without hard links (FAT, some network shares) says so on every file: once is enough.
        (log.debug if _warned else log.warning)(
            "could not share %s with an identical stored file (kept as its own copy): %s", path, exc)
        _warned = True
        return False


def _replace_with_link(source: Path, name: Path) -> None:
    """Atomically make `name` another link of `source`: readers see the old file or the new one, whole."""
    # Named like a download's temp file (engine.media.holders), so a start-up sweep leaves a live one alone.
    temp = name.with_name(f".{name.name}.p{os.getpid()}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    os.link(source, temp)
    try:
        os.replace(temp, name)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(name.parent)


def _fsync_dir(folder: Path) -> None:
    # The swap must survive a power cut as either name (both are whole), so only the directory needs it.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def release_local(storage: LocalStorage, path: str, sha256: str | None) -> None:
    """Remove one row's local name; the bytes stay while any other name links them.

    The index name goes too once it is the last link, so removing every row frees the space.
    """
    target = storage.local_path(path)
    if target is None:
        return
    try:
        target.unlink(missing_ok=True)
        if sha256:
            index = index_path(storage, sha256)
            if index.exists() and index.stat().st_nlink == 1:
                index.unlink(missing_ok=True)
    except ValueError:
        return  # a digest that is not ours to index: nothing was indexed under it
    except OSError as exc:
        raise StorageError(f"could not remove {target.name}: {exc.strerror or exc}") from exc


def prune_index(storage: LocalStorage, shard: str) -> int:
    """Drop index names in one shard (two hex digits) that are their file's last link; returns how many.

    Those files' rows were all removed without `release_local` (by hand, say): the index alone would
    keep their bytes on disk forever.
    """
    folder = storage.data_dir / INDEX_DIR / shard
    n = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_nlink == 1:
                os.unlink(entry.path)
                n += 1
        except FileNotFoundError:
            continue
    return n
