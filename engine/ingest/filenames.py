"""Turning a sender's document filename into one that is safe on every disk we write to."""

from __future__ import annotations

import re
import unicodedata

_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
MAX_NAME = 120


def sanitize_filename(name: str | None, *, fallback: str = "file") -> str:
    """A display/storage name with no path separator, `..`, control character or reserved name.

    Keeps the sender's words (and extension) where it can: "../../etc/passwd" -> "etc_passwd".
    """
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", str(name))
    # Only the last path component is a file name; the rest is a (hostile or careless) path.
    name = re.split(r"[\\/]+", name.strip())[-1] if re.search(r"[\\/]", name.rstrip("\\/")) else name
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name).strip(" ._")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    # Windows treats "NUL.tar.gz" like "NUL": the part before the first dot decides.
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        stem = f"_{stem}"
    name = f"{stem}.{ext}" if ext and stem else (stem or ext)
    if len(name) > MAX_NAME:
        keep_ext = f".{ext[:16]}" if ext else ""
        name = name[: MAX_NAME - len(keep_ext)].rstrip(" .") + keep_ext
    return name or fallback
