"""Checks of the constructor's options: each failure names the option, the value and what is allowed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from parlay.errors import ConfigurationError

MiB = 1024 * 1024
#: S3 refuses parts of a multipart upload below 5 MiB (but the last) and above 5 GiB.
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB


def _refuse(owner: str, name: str, value: Any, allowed: str) -> ConfigurationError:
    return ConfigurationError(f"{owner}.{name}={value!r}: expected {allowed}")


def endpoint_url(owner: str, value: Any) -> str | None:
    """None (AWS's endpoints, or `AWS_ENDPOINT_URL`) or an http(s) URL with a host."""
    if value is None:
        return None
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise _refuse(
            owner, "endpoint_url", value, "None or an http:// or https:// URL, such as 'http://127.0.0.1:9000'"
        )
    return value


def name(owner: str, option: str, value: Any, what: str) -> str | None:
    """None or a non-empty string without spaces."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise _refuse(owner, option, value, f"None or {what} (a non-empty string without spaces)")
    return value


def integer(owner: str, option: str, value: Any, minimum: int, maximum: int | None, allowed: str) -> int:
    """An int (not a bool) from `minimum` to `maximum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        raise _refuse(owner, option, value, allowed)
    return value
