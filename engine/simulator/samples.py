"""Real, small media files for the simulator: bytes whose magic number agrees with their MIME.

The downloader sniffs what it receives and rejects bytes that contradict the declared type, so
the simulator must serve genuine files, not placeholders. Each media id gets its own bytes (and so
its own sha256) by adding the id where the format ignores it: after the end of JPEG/PNG/WebP/Ogg/
AAC/PDF data, in an ID3 tag for MP3, in a `free` box for MP4, in the zip comment for documents.
"""

from __future__ import annotations

import io
import struct
import zipfile
from functools import cache
from pathlib import Path

from engine.resources import resource_path
from engine.simulator import ooxml

SAMPLE_FILES: dict[str, str] = {
    "image/jpeg": "sample.jpg",
    "image/png": "sample.png",
    "image/webp": "sample.webp",
    "audio/ogg": "sample.ogg",
    "audio/mpeg": "sample.mp3",
    "audio/aac": "sample.aac",
    "audio/mp4": "sample.m4a",
    "video/mp4": "sample.mp4",
    "application/pdf": "sample.pdf",
}
"""Declared MIME -> the shipped file in resources/samples/ that really is of that type."""

_ALIASES = {"image/jpg": "image/jpeg", "audio/mp3": "audio/mpeg", "audio/opus": "audio/ogg"}
_ISO_BMFF = {"video/mp4", "audio/mp4"}  # box-structured: trailing bytes must be a box too
OPAQUE_PREFIX = b"MEDIADESK-SIM-OPAQUE\x00"
"""Unknown types get bytes no sniffer recognises, never something dressed up as a known format."""


def base_mime(mime: str) -> str:
    """The MIME without parameters, lower-cased and de-aliased ("audio/ogg; codecs=opus" -> audio/ogg)."""
    bare = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def samples_dir() -> Path:
    """Where the sample files live, from a source checkout or from a PyInstaller bundle."""
    return resource_path("samples")


@cache
def sample_file(mime: str) -> bytes:
    """The shipped sample for a MIME, read once; KeyError when no file is shipped for it."""
    return (samples_dir() / SAMPLE_FILES[base_mime(mime)]).read_bytes()


def sample_bytes(mime: str, media_id: str) -> bytes:
    """A valid file of type `mime` that is unique to `media_id` and the same on every call."""
    mime = base_mime(mime)
    tag = media_id.encode()
    if mime in ooxml.MAIN_PARTS:
        return ooxml.document(mime, comment=tag)
    if mime == "application/zip":
        return _zip([("readme.txt", b"Archive sent through the MediaDesk simulator.\n")], tag)
    if mime == "text/plain":
        return f"Order notes\nReference: {media_id}\nTwo sourdough loaves, one cake.\n".encode()
    if mime == "text/csv":
        return f"item,qty,reference\nsourdough,2,{media_id}\ncroissant,12,{media_id}\n".encode()
    if mime in SAMPLE_FILES:
        data = sample_file(mime)
        if mime in _ISO_BMFF:
            return data + _free_box(tag)
        if mime == "audio/mpeg":
            return _id3_tag(tag) + data  # MP3 decoders choke on stray trailing bytes, not on a tag
        if mime == "application/pdf":
            return data + b"% " + tag + b"\n"  # a PDF comment after %%EOF, as incremental updates allow
        return data + b"\n" + tag
    return OPAQUE_PREFIX + tag


def _free_box(payload: bytes) -> bytes:
    """An ISO BMFF `free` box: readers skip it, so the media id rides along harmlessly."""
    return struct.pack(">I", 8 + len(payload)) + b"free" + payload


def _id3_tag(media_id: bytes) -> bytes:
    """An ID3v2.3 tag with one TXXX frame holding the media id; players and sniffers expect it."""
    value = media_id.decode("utf-8", "replace").encode("latin-1", "backslashreplace")
    frame_body = b"\x00MediaDesk media id\x00" + value  # encoding 0 (Latin-1), description, value
    frame = b"TXXX" + struct.pack(">I", len(frame_body)) + b"\x00\x00" + frame_body
    size = len(frame)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frame


def _zip(members: list[tuple[str, bytes]], comment: bytes) -> bytes:
    """A deflated zip with fixed timestamps, so the same media id always yields the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        archive.comment = comment  # trailing bytes after a zip would upset strict readers
    return buf.getvalue()
