"""HTTP requests with urllib: TLS settings, redirects that keep the method and drop credentials when they
leave the origin, credentials from the URL, and failures told in one line."""

from __future__ import annotations

import base64
import functools
import http.client
import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Mapping
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit

USER_AGENT = f"parlay-staging-http Python-urllib/{sys.version_info[0]}.{sys.version_info[1]}"
#: OpenSSL's verify codes of a certificate for another host name or IP address.
_NAME_MISMATCH = (62, 64)
#: Headers never sent on to another origin after a redirect (beside the user's own `headers`).
PRIVATE = ("Authorization", "Cookie", "Proxy-Authorization")


@functools.lru_cache(maxsize=16)
def ssl_context(ca_bundle: str | None, verify: bool) -> ssl.SSLContext:
    """The TLS settings: the system's CAs, or those of `ca_bundle` (a PEM file or a folder of them), or no
    verification at all."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        if os.path.isdir(ca_bundle):
            return ssl.create_default_context(capath=ca_bundle)
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise BadSetting(f"ca_bundle={ca_bundle!r}: cannot load it ({getattr(exc, 'strerror', None) or exc})") from exc


class BadSetting(ValueError):
    """An option that cannot be used where the transfer runs (a `ca_bundle` this node cannot read)."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only, keeps HEAD a HEAD, and sends `private` headers on only within
    the origin they were given for."""

    def __init__(self, private: tuple[str, ...]):
        self.private = private

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        if urlsplit(new.full_url).scheme not in ("http", "https"):
            raise HTTPError(req.full_url, code, f"{msg}, to {new.full_url}, which is not http(s)", headers, fp)
        new.method = req.get_method()
        if _origin(new.full_url) != _origin(req.full_url):
            for name in self.private:
                new.remove_header(name.capitalize())
        return new


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, parts.port or default


def _bare(url: str) -> str:
    """`url` without its credentials."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def open_url(
    url: str, method: str, *, timeout: float, ca_bundle: str | None, verify: bool, headers: Mapping[str, str]
) -> http.client.HTTPResponse:
    """The response to `method` at `url` (redirects followed); `HTTPError` for an error status, `URLError`
    or `OSError` when no answer came. `timeout` bounds the connection and each read."""
    parts = urlsplit(url)
    request = urllib.request.Request(_bare(url))
    request.method = method
    request.add_header("User-Agent", USER_AGENT)
    if parts.username is not None:  # credentials in the URL: HTTP basic authentication
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(secret.encode()).decode())
    for name, value in headers.items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl_context(ca_bundle, verify)), _Redirects((*PRIVATE, *headers))
    )
    return opener.open(request, timeout=timeout)


def explain(exc: BaseException, timeout: float, url: str = "") -> str:
    """One line saying why a request for `url` failed."""
    if isinstance(exc, BadSetting):
        return str(exc)
    if isinstance(exc, HTTPError):
        text = f"HTTP {exc.code} {' '.join(str(exc.reason or '').split())}".rstrip()
        final = exc.url or ""
        return text + (f" (at {final}, where a redirect led)" if final and _bare(final) != _bare(url) else "")
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g} s (the timeout option)"
    if isinstance(reason, ssl.SSLCertVerificationError):
        detail = (reason.verify_message or reason.reason or str(reason)).rstrip(".")
        if reason.verify_code in _NAME_MISMATCH:
            return f"TLS certificate verification failed: {detail} (use a name the certificate names)"
        return (
            f"TLS certificate verification failed: {detail} "
            "(name the CA that signed the server's certificate with ca_bundle=, or turn checks off with verify=False)"
        )
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name: {reason.strerror or reason}"
    if isinstance(reason, http.client.IncompleteRead):
        expected = f" of {len(reason.partial) + reason.expected}" if isinstance(reason.expected, int) else ""
        return f"the connection closed after {len(reason.partial)}{expected} bytes, before the end of the body"
    if isinstance(reason, http.client.HTTPException):
        return f"bad HTTP answer: {type(reason).__name__}: {reason}"
    if isinstance(reason, OSError):
        return f"cannot connect: {reason.strerror or reason}"
    return f"{type(reason).__name__}: {reason}"
