"""The HTTP staging providers: `http://` and `https://` inputs downloaded in chunks to the task's folder.

Stage-in only, as in Parsl: an app's outputs cannot be `http(s)://` URLs.
"""

from __future__ import annotations

import http.client
import math
import os
from collections.abc import Iterator, Mapping
from typing import ClassVar, NoReturn
from urllib.error import HTTPError

from parlay.errors import ConfigurationError, StagingError
from parlay.files import File
from parlay.staging.transfer import TransferStaging
from parlay_staging_http.client import BadSetting, explain, open_url

#: Bytes read from the network and written to disk at a time.
CHUNK = 1 << 20
_FAILURES = (OSError, http.client.HTTPException, BadSetting)


class HTTPStaging(TransferStaging):
    """Downloads `http://` and `https://` URLs (redirects followed). Options, all by keyword:

    - `timeout`: seconds for connecting and for each read (60).
    - `ca_bundle`: a PEM file (or folder) of CAs to trust for https, instead of the system's (None).
    - `verify`: whether to verify https certificates at all (True).
    - `max_size`: refuse a file larger than this many bytes (None: no limit).
    - `headers`: extra request headers, such as a token (sent only to the URL's own origin).

    Credentials in the URL (`https://user:password@host/path`, percent-encoded) go as basic authentication.
    """

    schemes: ClassVar[tuple[str, ...]] = ("http", "https")

    def __init__(
        self,
        *,
        timeout: float = 60,
        ca_bundle: str | os.PathLike[str] | None = None,
        verify: bool = True,
        max_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        name = type(self).__name__
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
            raise ConfigurationError(f"{name}.timeout={timeout!r}: expected seconds > 0")
        if not isinstance(verify, bool):
            raise ConfigurationError(f"{name}.verify={verify!r}: expected True or False")
        if ca_bundle is not None:
            if not isinstance(ca_bundle, (str, os.PathLike)) or not os.fspath(ca_bundle):
                raise ConfigurationError(
                    f"{name}.ca_bundle={ca_bundle!r}: expected the path of a PEM file of CA certificates, "
                    "or None for the system's"
                )
            if not verify:
                raise ConfigurationError(f"{name}.ca_bundle={ca_bundle!r}: not used with verify=False; give one")
            ca_bundle = os.fspath(ca_bundle)
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0):
            raise ConfigurationError(f"{name}.max_size={max_size!r}: expected a number of bytes > 0, or None")
        self.timeout = timeout
        self.ca_bundle: str | None = ca_bundle
        self.verify = verify
        self.max_size = max_size
        self.headers = _check_headers(name, headers)

    # --- TransferStaging ----------------------------------------------------------------------------

    def download(self, file: File, path: str) -> None:
        """Stream the body at `file.url` to `path`, refusing one larger than `max_size`."""
        with self._open(file, "GET") as response, open(path, "wb") as target:
            expected = _length(response)
            if self.max_size is not None and expected is not None and expected > self.max_size:
                self._fail(file, f"{expected} bytes (Content-Length), larger than max_size={self.max_size}")
            received = 0
            for chunk in self._chunks(file, response):
                received += len(chunk)
                if self.max_size is not None and received > self.max_size:
                    self._fail(file, f"larger than max_size={self.max_size} bytes (more came; no Content-Length)")
                target.write(chunk)
            if expected is not None and received != expected:
                self._fail(file, f"the connection closed after {received} of {expected} bytes (Content-Length)")

    def version(self, file: File) -> str | None:
        """The ETag, else the size and Last-Modified, from a HEAD request; None when the server gives
        neither, or refuses HEAD (the download then reports any real failure)."""
        try:
            with self._request(file, "HEAD") as response:
                headers = response.headers
        except HTTPError:
            return None
        except _FAILURES as exc:
            raise ConnectionError(explain(exc, self.timeout, file.url)) from exc
        if headers.get("ETag"):
            return f"etag {headers['ETag']}"
        size, modified = headers.get("Content-Length"), headers.get("Last-Modified")
        return f"size {size} modified {modified}" if size or modified else None

    def __repr__(self) -> str:
        headers = {name: "..." for name in self.headers}  # values are often secrets
        return (
            f"{type(self).__name__}(timeout={self.timeout!r}, ca_bundle={self.ca_bundle!r}, verify={self.verify!r}, "
            f"max_size={self.max_size!r}, headers={headers!r})"
        )

    # --- requests -----------------------------------------------------------------------------------

    def _request(self, file: File, method: str) -> http.client.HTTPResponse:
        return open_url(
            file.url, method, timeout=self.timeout, ca_bundle=self.ca_bundle, verify=self.verify, headers=self.headers
        )

    def _open(self, file: File, method: str) -> http.client.HTTPResponse:
        try:
            return self._request(file, method)
        except _FAILURES as exc:
            self._fail(file, explain(exc, self.timeout, file.url), exc)

    def _chunks(self, file: File, response: http.client.HTTPResponse) -> Iterator[bytes]:
        while True:
            try:
                chunk = response.read(CHUNK)
            except _FAILURES as exc:
                self._fail(file, explain(exc, self.timeout, file.url), exc)
            if not chunk:
                return
            yield chunk

    @staticmethod
    def _fail(file: File, reason: str, cause: BaseException | None = None) -> NoReturn:
        raise StagingError(file.url, "in", reason) from cause


class HTTPSeparateTaskStaging(HTTPStaging):
    """Each download is a task of its own on the app's executor, into its `working_dir` (which the workers
    that run it and the app must share). Parsl's name; in every executor's default `storage_access`."""

    in_task: ClassVar[bool] = False
    by_default: ClassVar[bool] = True


class HTTPInTaskStaging(HTTPStaging):
    """Downloads run on the worker, just before the app, once per node for a URL at a version (ETag or
    size and date) however many tasks there read it. Parsl's name."""

    in_task: ClassVar[bool] = True


def _check_headers(owner: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is None:
        return {}
    allowed = "expected a mapping of header names to str values (no line breaks)"
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"{owner}.headers: {allowed}, not a {type(headers).__name__}")
    for name, value in headers.items():
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or not name.strip()
            or any(c in name for c in " :\r\n\t")
            or any(c in value for c in "\r\n\0")
        ):
            raise ConfigurationError(f"{owner}.headers[{name!r}]: {allowed}")
    return dict(headers)


def _length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None and response.headers.get("Content-Encoding") is None else None
    except ValueError:
        return None
