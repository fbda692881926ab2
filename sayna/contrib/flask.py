"""Receive Sayna's SIP webhooks in a Flask view.

::

    from sayna.contrib.flask import sayna_webhook

    @app.post("/hooks/sayna")
    @sayna_webhook  # the secret comes from SAYNA_WEBHOOK_SECRET
    def sayna_call(call):
        app.logger.info("%s is calling %s", call.from_phone_number, call.to_phone_number)

Your function gets the verified :class:`~sayna.WebhookSIPOutput` (then the
route's URL arguments) and returns any Flask response value, or ``None`` for
204. The raw body is read before Flask parses it, at most ``max_body_size``
bytes even when it is chunked; ``request.get_data()`` still returns it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, overload

import flask
import werkzeug.exceptions

from sayna._errors import WebhookVerificationError
from sayna._webhooks import (
    WebhookReceiver,
    WebhookSIPOutput,
    declared_length,
    read_at_most,
    receiver_provider,
    rejection_response,
)

__all__ = ["sayna_webhook", "verify_request"]

View = Callable[..., Any]


def verify_request(request: flask.Request, receiver: WebhookReceiver) -> WebhookSIPOutput:
    """Verify the webhook in a Flask request (its raw body) and return it.

    The size limit applies while reading: ``get_data()`` would read a chunked
    body (no Content-Length) in full before any check could run.
    """
    limit = receiver.max_body_size
    declared_length(request.environ.get("CONTENT_LENGTH"), limit)
    # werkzeug keeps a body read earlier (get_data() in a before_request
    # hook) here; the stream is then spent.
    body: bytes | None = getattr(request, "_cached_data", None)
    if body is None:
        try:
            body = read_at_most(request.stream.read, limit)
        except werkzeug.exceptions.RequestEntityTooLarge:  # the app's MAX_CONTENT_LENGTH
            raise WebhookVerificationError(
                f"Webhook body is larger than the app's MAX_CONTENT_LENGTH (our cap: {limit}).",
                reason="body_too_large",
            ) from None
        except werkzeug.exceptions.ClientDisconnected:
            raise WebhookVerificationError(
                "The request body ended before its Content-Length.", reason="invalid_body"
            ) from None
        # So that request.get_data() in the view still returns the body.
        request._cached_data = body
    return receiver.receive(request.headers, body)


def _decorate(view: View, receiver: WebhookReceiver | None) -> View:
    get_receiver = receiver_provider(receiver)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = flask.request
        if request.method != "POST":
            return flask.Response(status=405, headers={"Allow": "POST"})
        try:
            call = verify_request(request, get_receiver())
        except WebhookVerificationError as exc:
            status, body = rejection_response(exc, source="sayna.contrib.flask")
            return flask.Response(body, status=status, mimetype="application/json")
        result = view(call, *args, **kwargs)
        return flask.Response(status=204) if result is None else result

    return wrapper


@overload
def sayna_webhook(view: View, /) -> View: ...


@overload
def sayna_webhook(*, receiver: WebhookReceiver | None = None) -> Callable[[View], View]: ...


def sayna_webhook(
    view: View | None = None, /, *, receiver: WebhookReceiver | None = None
) -> View | Callable[[View], View]:
    """Turn ``fn(call, **url_args)`` into a verified webhook view.

    Use bare (``@sayna_webhook``) or with a receiver
    (``@sayna_webhook(receiver=WebhookReceiver(secret))``); put it below
    ``@app.post(...)``.
    """
    if isinstance(view, WebhookReceiver):
        raise TypeError("pass the receiver by keyword: @sayna_webhook(receiver=...)")
    if view is not None:
        return _decorate(view, receiver)
    return lambda fn: _decorate(fn, receiver)
