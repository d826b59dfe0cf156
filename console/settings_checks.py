"""The Settings dialog's field checks: each returns the message shown under its field, or None when fine.

Plain functions over the typed text, so the owner hears about a typo at the field rather than from a
failed upload or a listener that cannot start.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

Validator = Callable[[str], str | None]  # the message to show, or None when the value is fine


def required(what: str) -> Validator:
    return lambda v: None if v.strip() else f"Enter the {what}."


def digits(what: str) -> Validator:
    return lambda v: None if not v.strip() or v.strip().isdigit() else f"The {what} is a number (digits only)."


def int_between(lo: int, hi: int, what: str) -> Validator:
    def check(v: str) -> str | None:
        try:
            n = int(v.strip())
        except ValueError:
            return f"{what} must be a whole number from {lo} to {hi}."
        return None if lo <= n <= hi else f"{what} must be from {lo} to {hi}."
    return check


def validate_graph_version(v: str) -> str | None:
    return None if re.fullmatch(r"v\d+\.\d+", v.strip()) else "Write the Graph API version like v21.0."


def validate_delays(v: str) -> str | None:
    parts = [p.strip() for p in v.split(",")]
    if v.strip() and all(parts):
        try:
            if all(float(p) >= 0 for p in parts):
                return None
        except ValueError:
            pass
    return "Write the waits before each retry in seconds, separated by commas, e.g. 10, 30, 60."


def validate_bucket(v: str) -> str | None:
    """Amazon's bucket naming rules, so a typo is caught here rather than by a failed upload."""
    b = v.strip()
    if not b:
        return "S3 storage needs a bucket name."
    if not 3 <= len(b) <= 63:
        return "A bucket name is 3 to 63 characters long."
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", b):
        return "Use lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
    if ".." in b or ".-" in b or "-." in b:
        return "A bucket name cannot have two dots in a row or a dot next to a hyphen."
    try:
        ipaddress.IPv4Address(b)
        return "A bucket name cannot look like an IP address."
    except ValueError:
        pass
    if b.startswith(("xn--", "sthree-")) or b.endswith(("-s3alias", "--ol-s3")):
        return "Names starting with xn-- or sthree-, or ending with -s3alias or --ol-s3, are reserved by AWS."
    return None


def validate_endpoint(v: str) -> str | None:
    u = v.strip()
    return None if not u or re.fullmatch(r"https?://[^\s/]+(/\S*)?", u) else \
        "Write the endpoint as a URL, e.g. https://s3.eu-west-1.amazonaws.com (or leave it empty for AWS)."


def validate_region(v: str) -> str | None:
    return None if not v.strip() or re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+", v.strip()) else \
        "Write the region like eu-west-1 (or leave it empty)."
