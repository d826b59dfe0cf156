"""Byte counts in the owner's words, the same everywhere: the health view, backups, retention, the console."""

from __future__ import annotations


def size_words(n: float) -> str:
    """`n` bytes as "512 B", "7.2 KB", "3.4 MB" or "1.2 GB" (binary units; GB is the largest)."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
