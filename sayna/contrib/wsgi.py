"""Serve Sayna's SIP webhooks from any WSGI server, with no framework.

::

    from sayna.contrib.wsgi import WebhookMiddleware

    def on_call(call, environ):
        print(call.from_phone_number, "called", call.to_phone_number)

    application = WebhookMiddleware(application, on_call, path="/hooks/sayna")

The handler gets the verified :class:`~sayna.WebhookSIPOutput` and the WSGI
environ; returning ``None`` answers 204, anything else is sent as JSON (200).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from sayna._errors import WebhookVerificationError
from sayna._webhooks import (
    WebhookReceiver,
    WebhookSIPOutput,
    declared_length,
    read_at_most,
    receiver_provider,
    rejection_response,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["WebhookApp", "WebhookMiddleware", "read_body"]

Handler = Callable[[WebhookSIPOutput, "WSGIEnvironment"], object]

_CHUNK = 64 * 1024


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """Read exactly ``CONTENT_LENGTH`` bytes of ``wsgi.input``, refusing more than ``limit``.

    Without a Content-Length the body is empty (PEP 3333), unless the server
    marks the stream as terminated (``wsgi.input_terminated``, for chunked
    requests); then it is read in steps and refused as soon as it passes
    ``limit`` bytes.
    """
    stream = environ["wsgi.input"]
    length = declared_length(environ.get("CONTENT_LENGTH"), limit)
    if length is None:
        if not environ.get("wsgi.input_terminated"):
            return b""
        return read_at_most(stream.read, limit)
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            raise WebhookVerificationError(
                f"The request body ended {remaining} bytes short of its Content-Length.",
                reason="invalid_body",
            )
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _respond(
    start_response: StartResponse,
    status: int,
    body: bytes = b"",
    extra: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    headers = [("Content-Length", str(len(body))), *extra]
    if body:
        headers.append(("Content-Type", "application/json"))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


class WebhookApp:
    """A WSGI application that verifies each webhook and hands it to ``handler``.

    ``receiver`` defaults to one built from ``SAYNA_WEBHOOK_SECRET`` on the
    first request.
    """

    def __init__(self, handler: Handler, *, receiver: WebhookReceiver | None = None) -> None:
        self._handler = handler
        self._receiver = receiver_provider(receiver)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            error = json.dumps({"error": "method_not_allowed"}).encode()
            return _respond(start_response, 405, error, [("Allow", "POST")])
        try:
            receiver = self._receiver()
            body = read_body(environ, receiver.max_body_size)
            call = receiver.receive(environ, body)
        except WebhookVerificationError as exc:
            status, error = rejection_response(exc, source="sayna.contrib.wsgi")
            return _respond(start_response, status, error)
        result = self._handler(call, environ)
        if result is None:
            return _respond(start_response, 204)
        return _respond(start_response, 200, json.dumps(result).encode("utf-8"))


class WebhookMiddleware:
    """Serve the webhook at ``path`` (exact ``PATH_INFO``); pass everything else to ``app``."""

    def __init__(
        self,
        app: WSGIApplication,
        handler: Handler,
        *,
        path: str,
        receiver: WebhookReceiver | None = None,
    ) -> None:
        self._app = app
        self._path = path
        self._webhook = WebhookApp(handler, receiver=receiver)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") == self._path:
            return self._webhook(environ, start_response)
        return self._app(environ, start_response)
