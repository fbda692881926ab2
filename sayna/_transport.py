"""One REST exchange, bounded in time and memory: send, retry, read the answer.

The answer's body is read here rather than by ``requests`` (``stream=True``),
for three reasons. A read timeout while the body arrives must be a timeout:
``requests`` reports it as a connection error, which was then retried. The
body must stop at a cap instead of growing with whatever the server sends.
And decompression must stop at that cap too: this module inflates ``gzip``
and ``deflate`` itself, at most ``READ_CHUNK`` bytes of output per step, so a
small compressed body cannot expand past the cap in memory.

Why not urllib3's ``Retry`` on the adapter: a ``session=`` passed by the user
brings its own adapters (and retry settings) that are theirs, not ours to
replace; ``Retry`` sleeps for whatever ``Retry-After`` says, uncapped (a
server could hold a call for a day), and raises its own exception for a
malformed header; and it never sees the body, where the stalled-read case
happens. So the loop below stays ours: ``GET`` only (the idempotent
requests), on a failed connection or a 429/502/503/504 answer, exponential
backoff or the server's ``Retry-After`` up to ``retry_after_max``.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import urllib3.exceptions
from requests.utils import get_environ_proxies

from sayna import _telemetry as telemetry
from sayna._errors import (
    SaynaConnectionError,
    SaynaError,
    SaynaHttpError,
    SaynaProtocolError,
    SaynaTimeoutError,
    error_from_response,
    parse_retry_after,
)

__all__ = [
    "MAX_AUDIO_BYTES",
    "MAX_JSON_BYTES",
    "READ_CHUNK",
    "RestTransport",
]

_log = logging.getLogger("sayna")

#: Largest JSON answer accepted (the voices of every provider fit many times over).
MAX_JSON_BYTES = 8 * 1024 * 1024
#: Largest audio answer buffered in memory (``speak_rest``, ``get_recording``):
#: 256 MiB is over a day of Opus recording; ``save_recording`` has no cap.
MAX_AUDIO_BYTES = 256 * 1024 * 1024
#: Bytes read from the socket, and produced by decompression, per step.
READ_CHUNK = 64 * 1024

# Answers that mean "try again", for GETs: rate limiting, and a proxy or load
# balancer in front of the server (docs/protocol.rst §1.3).
_RETRY_STATUSES = frozenset({429, 502, 503, 504})

_TIMEOUTS = (urllib3.exceptions.ReadTimeoutError, TimeoutError)
_BROKEN = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class _Inflater:
    """Decodes a ``Content-Encoding`` in steps of at most ``READ_CHUNK`` bytes."""

    def __init__(self, encoding: str) -> None:
        self._raw_deflate_fallback = False
        if encoding in ("", "identity"):
            self._zlib: Any = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            # HTTP's deflate is zlib-wrapped, but servers also send it raw.
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
            self._raw_deflate_fallback = True
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            yield data
            return
        pending = data
        while pending and not self._zlib.eof:
            try:
                out = self._zlib.decompress(pending, READ_CHUNK)
            except zlib.error:
                if not self._raw_deflate_fallback:
                    raise
                self._raw_deflate_fallback = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_deflate_fallback = False
            pending = self._zlib.unconsumed_tail
            if out:
                yield out


def _merge_setting(request_value: Any, session_value: Any) -> Any:
    """requests' rule for a per-request setting over the session's (``merge_setting``)."""
    if session_value is None:
        return request_value
    if request_value is None:
        return session_value
    if not (isinstance(request_value, Mapping) and isinstance(session_value, Mapping)):
        return request_value
    merged = {**session_value, **request_value}
    return {key: value for key, value in merged.items() if value is not None}


def _read_environment(url: str) -> tuple[dict[str, str], str | None]:
    """The proxies for ``url`` and the CA bundle that requests takes from the environment."""
    proxies = get_environ_proxies(url, no_proxy=None)
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    return dict(proxies), ca_bundle


class RestTransport:
    """Sends requests for one :class:`~sayna.Sayna` client and reads their answers."""

    #: Backoff before retry n (0-based) is ``min(base * 2**n, max)`` seconds.
    retry_base_delay: float = 0.25
    retry_max_delay: float = 4.0
    #: The longest ``Retry-After`` waited for; a longer one raises at once,
    #: with ``retry_after`` on the exception.
    retry_after_max: float = 10.0

    def __init__(
        self,
        *,
        base_url: str,
        http: requests.Session,
        auth: requests.auth.AuthBase | None,
        user_agent: str,
        timeout: float,
        max_retries: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.http = http
        self.auth = auth
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_retries = max_retries
        #: Extra headers (``Sayna.with_options``), checked to never clash with ours.
        self.extra_headers: dict[str, str] = dict(headers or {})
        # Test seam: the pause between retries.
        self.sleep: Callable[[float], None] = time.sleep
        self._environment: tuple[dict[str, str], str | None] | None = (
            _read_environment(base_url) if http.trust_env else None
        )

    # --- sending -----------------------------------------------------------------

    def _headers(self, *, json_body: bool, compressed: bool) -> dict[str, str]:
        # Only the encodings _Inflater decodes (requests would add br and zstd
        # when their modules happen to be installed); none at all for audio.
        encodings = "gzip, deflate" if compressed else "identity"
        headers = {
            **self.extra_headers,
            "User-Agent": self.user_agent,
            "Accept-Encoding": encodings,
        }
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _backoff(self, attempt: int) -> float:
        return float(min(self.retry_base_delay * 2**attempt, self.retry_max_delay))

    @telemetry.traced_request
    def open(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        compressed: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request (retrying GETs) and return a 2xx answer whose body is unread.

        The caller must read it with :meth:`read` or :meth:`copy`, which close
        it. ``path`` never carries a query string, so it is safe to put in
        exceptions and logs. ``compressed=False`` asks for the body as is
        (audio: it does not compress, and an answer to it that is compressed
        anyway is refused, so a small body can never inflate in memory).
        """
        url = self.base_url + path
        retries = self.max_retries if method == "GET" else 0
        attempt = 0
        while True:
            started = time.monotonic()
            answers: list[requests.Response] = []
            try:
                response = self._send(
                    method, url, body, compressed=compressed, answers=answers, params=params
                )
            except requests.exceptions.ConnectTimeout as exc:
                error: SaynaError = self._timeout_error(method, path, "connecting")
                if attempt >= retries:
                    raise error from exc
                delay = self._backoff(attempt)
            except requests.exceptions.Timeout as exc:
                # The server accepted the request and is slow: repeating it
                # would only multiply the wait.
                raise self._timeout_error(method, path, "waiting for the answer") from exc
            except requests.exceptions.SSLError as exc:
                raise self._transport_error(method, path, "TLS failure", exc) from exc
            except requests.exceptions.ConnectionError as exc:
                if attempt >= retries:
                    raise self._transport_error(method, path, "connection failed", exc) from exc
                delay = self._backoff(attempt)
            except requests.exceptions.RequestException as exc:
                raise self._transport_error(method, path, "request failed", exc) from exc
            except ValueError as exc:
                # requests parses a redirect's Location with urllib.parse and
                # the idna codec outside its own try blocks: ``http://[::1``,
                # ``\xff`` bytes or a 300-character label raise ValueError,
                # UnicodeDecodeError or urllib3's LocationParseError (all
                # ValueErrors). One header from any server must not escape.
                # The answer that carried it may still hold its connection.
                for answer in answers:
                    answer.close()
                raise self._transport_error(method, path, "unusable answer", exc) from exc
            else:
                status = response.status_code
                _log.debug("%s %s -> %s in %.3fs", method, path, status, time.monotonic() - started)
                if 200 <= status < 300:
                    return response
                if status not in _RETRY_STATUSES or attempt >= retries:
                    raise self._http_error(response, method, path)
                waited = self._retry_after(response)
                if waited is not None and waited > self.retry_after_max:
                    # The server asks for more patience than a blocking call
                    # should have: let the caller schedule it (exc.retry_after).
                    raise self._http_error(response, method, path)
                response.close()
                delay = self._backoff(attempt) if waited is None else waited
            finally:
                # The hook that filled it hangs on the request, which the
                # response holds: emptying it breaks the cycle, so that an
                # answer is freed (and its connection released) by refcount.
                answers.clear()
            attempt += 1
            _log.info("%s %s: retry %d of %d in %.2fs", method, path, attempt, retries, delay)
            telemetry.retry(attempt, delay)
            self.sleep(delay)

    def _send(
        self,
        method: str,
        url: str,
        body: Any,
        *,
        compressed: bool,
        answers: list[requests.Response],
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send; every answer received (redirects included) is appended to ``answers``."""
        headers = self._headers(json_body=body is not None, compressed=compressed)

        def keep(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
            answers.append(response)

        hooks = {"response": [keep]}
        # A redirect would turn a POST into a GET and may drop the
        # Authorization header; follow them only for reads.
        follow = method == "GET"
        http = self.http
        if type(http).request is not requests.Session.request:
            # A Session subclass with its own request(): honour it as it is.
            return http.request(
                method,
                url,
                json=body,
                params=params,
                headers=headers,
                auth=self.auth,
                timeout=self.timeout,
                stream=True,
                allow_redirects=follow,
                hooks=hooks,
            )
        # What Session.request does, minus re-reading the environment.
        prepared = http.prepare_request(
            requests.Request(
                method,
                url,
                headers=headers,
                json=body,
                params=params,
                auth=self.auth,
                hooks=hooks,
            )
        )
        return http.send(
            prepared, timeout=self.timeout, allow_redirects=follow, stream=True, **self._settings()
        )

    def _settings(self) -> dict[str, Any]:
        """proxies, verify and cert as ``Session.merge_environment_settings`` gives them.

        The environment part (proxy variables, ``NO_PROXY``, CA bundle) is read
        once per client, as httpx does; scanning ``os.environ`` on every call
        was a third of a call's CPU time. The session's own attributes are
        read on every call, so changes to them still apply.
        """
        http = self.http
        env_proxies: dict[str, str] = {}
        env_ca: str | None = None
        if http.trust_env:
            if self._environment is None:
                self._environment = _read_environment(self.base_url)
            env_proxies, env_ca = self._environment
        return {
            "proxies": _merge_setting(dict(env_proxies), http.proxies),
            "verify": _merge_setting(env_ca, http.verify),
            "cert": _merge_setting(None, http.cert),
        }

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def _http_error(self, response: requests.Response, method: str, path: str) -> SaynaHttpError:
        body = bytearray()
        with contextlib.suppress(SaynaProtocolError):  # undecodable: what arrived is kept
            self._pump(
                response, method, path, body.extend, limit=SaynaHttpError.BODY_LIMIT, cut=True
            )
        headers = response.headers
        return error_from_response(
            response.status_code, bytes(body), method=method, endpoint=path, headers=headers
        )

    def _timeout_error(self, method: str, path: str, doing: str) -> SaynaTimeoutError:
        return SaynaTimeoutError(
            f"{method} {path}: timed out after {self.timeout:g}s {doing} ({self.base_url})"
        )

    def _transport_error(
        self, method: str, path: str, what: str, exc: BaseException
    ) -> SaynaConnectionError:
        # requests nests the useful reason (refused, DNS, reset) a level or two down.
        reason: BaseException = exc
        for _ in range(3):
            inner = reason.args[0] if reason.args else None
            inner = getattr(inner, "reason", inner)
            if not isinstance(inner, BaseException):
                break
            reason = inner
        return SaynaConnectionError(
            f"{method} {path}: {what} ({self.base_url}): {type(reason).__name__}: {reason}"
        )

    # --- reading -------------------------------------------------------------------

    def read(self, response: requests.Response, method: str, path: str, *, limit: int) -> bytes:
        """The whole (decoded) body, or SaynaProtocolError past ``limit`` bytes."""
        # BytesIO grows in place and hands its buffer over without a copy,
        # so a large answer costs its size once, not twice.
        body = io.BytesIO()
        self._pump(response, method, path, body.write, limit=limit)
        return body.getvalue()

    def copy(
        self, response: requests.Response, method: str, path: str, write: Callable[[bytes], Any]
    ) -> int:
        """Hand the decoded body to ``write`` in pieces of at most READ_CHUNK; return its size."""
        return self._pump(response, method, path, write, limit=None)

    def _pump(
        self,
        response: requests.Response,
        method: str,
        path: str,
        write: Callable[[bytes], Any],
        *,
        limit: int | None,
        cut: bool = False,
    ) -> int:
        """Read, decode and ``write`` the body; past ``limit``, raise (or stop, with ``cut``)."""

        def refused(problem: str) -> SaynaProtocolError:
            return SaynaProtocolError(f"{method} {path}: {problem}", method=method, endpoint=path)

        try:
            encoding = response.headers.get("Content-Encoding", "").strip().lower()
            asked = response.request.headers.get("Accept-Encoding", "")
            if encoding not in ("", "identity") and encoding not in asked:
                raise refused(f"the answer is {encoding}-encoded; we asked for {asked!r}")
            try:
                inflater = _Inflater(encoding)
            except ValueError as exc:
                raise refused(str(exc)) from None
            declared = response.headers.get("Content-Length", "")
            too_long = declared.isdigit() and int(declared) > (limit or 0)
            if limit is not None and not cut and not encoding and too_long:
                raise refused(f"the answer announces {declared} bytes, over the {limit}-byte limit")
            # An unencoded body is complete once its Content-Length has arrived:
            # http.client closed it at its last byte and urllib3 put the
            # connection back in the pool then, so a further read would only
            # report the end (one read of two on every small answer, issue 26).
            whole = int(declared) if declared.isdigit() and encoding in ("", "identity") else -1
            total = 0
            while True:
                try:
                    data = response.raw.read(READ_CHUNK, decode_content=False)
                except _TIMEOUTS as exc:
                    raise self._timeout_error(method, path, "reading the answer") from exc
                except _BROKEN as exc:
                    raise self._transport_error(method, path, "answer cut short", exc) from exc
                if not data:
                    return total
                # One piece at a time: a compressed chunk may inflate a
                # thousandfold, and must stop as soon as the limit is passed.
                pieces = inflater.feed(data)
                while True:
                    try:
                        piece = next(pieces, None)
                    except zlib.error as exc:
                        raise refused(f"the {encoding} body is corrupt: {exc}") from exc
                    if piece is None:
                        break
                    if limit is not None and total + len(piece) > limit:
                        if not cut:
                            raise refused(f"the answer is larger than the {limit}-byte limit")
                        write(piece[: limit - total])
                        return limit
                    total += len(piece)
                    write(piece)
                if total == whole:
                    return total
        finally:
            # Fully read: the connection is already back in the pool. Cut
            # short: closing drops it, so no stale bytes are ever reused.
            response.close()
