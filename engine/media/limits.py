"""What Meta allows per media type, and telling real content from a lying MIME type."""

from __future__ import annotations

import mimetypes

import filetype

MB = 1024 * 1024
# Meta's documented caps (Cloud API "Supported media types").
SIZE_LIMITS = {
    "image": 5 * MB,
    "video": 16 * MB,
    "audio": 16 * MB,
    "voice": 16 * MB,
    "sticker": 500 * 1024,
    "document": 100 * MB,
}
OVERALL_LIMIT = 100 * MB


def size_limit(kind: str | None) -> int:
    return SIZE_LIMITS.get(kind or "", OVERALL_LIMIT)


def _family(mime: str | None) -> str | None:
    """A coarse family a file's bytes can be checked against; None when bytes cannot tell."""
    if not mime:
        return None
    mime = mime.split(";")[0].strip().lower()
    if mime.startswith("image/"):
        return "image"
    if mime.startswith(("audio/", "video/")) or mime in ("application/ogg", "application/mp4"):
        return "av"  # the same containers (mp4, 3gp, ogg, webm) carry either
    if mime == "application/pdf":
        return "pdf"
    if mime in ("application/x-msdownload", "application/x-executable", "application/x-elf",
                "application/x-mach-binary", "application/vnd.microsoft.portable-executable"):
        return "executable"
    if "zip" in mime or "openxmlformats" in mime or "opendocument" in mime or mime in (
        "application/epub+zip", "application/java-archive", "application/vnd.android.package-archive"
    ):
        return "zip"
    return "other"


SNIFF_BYTES = 8192  # how much of a file's start `sniff` is given


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes of a file say it is, or None when they do not say."""
    kind = filetype.guess(head)
    return kind.mime if kind else None


def contradicts(declared: str | None, sniffed: str | None) -> bool:
    """True when the bytes are plainly something else than the declared type.

    Lenient where formats overlap (audio in a video container, OOXML inside zip, unknown bytes), strict
    where a lie matters: an executable or a PDF dressed up as a photo, a photo sent as a voice note.
    """
    want, got = _family(declared), _family(sniffed)
    if got is None or want is None:
        return False
    if got == "executable":
        return want != "executable"
    if want == "other":
        return False  # application/octet-stream and friends: anything but an executable
    return want != got


def extension_for(mime: str | None, sniffed: str | None = None) -> str:
    for m in (mime, sniffed):
        if not m:
            continue
        base = m.split(";")[0].strip().lower()
        ext = {"image/jpeg": "jpg", "audio/ogg": "ogg", "audio/mpeg": "mp3", "image/webp": "webp",
               "video/mp4": "mp4", "audio/mp4": "m4a", "text/plain": "txt", "audio/amr": "amr",
               "audio/aac": "aac", "video/3gpp": "3gp", "audio/3gpp": "3gp"}.get(base)
        if ext:
            return ext
        guessed = mimetypes.guess_extension(base)
        if guessed:
            return guessed.lstrip(".")
    return "bin"
