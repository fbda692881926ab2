"""Receive Sayna's SIP webhooks in a Django view.

::

    from sayna.contrib.django import sayna_webhook

    @sayna_webhook  # the secret comes from SAYNA_WEBHOOK_SECRET
    def sayna_call(request, call):
        IncomingCall.objects.create(caller=call.from_phone_number, room=call.room.name)

    urlpatterns = [path("hooks/sayna/", sayna_call)]

The view is CSRF-exempt (the signature is the protection) and answers only
``POST``. Your function gets the request, the verified
:class:`~sayna.WebhookSIPOutput` and any URL arguments; return an
``HttpResponse``, or ``None`` for 204. Pass ``receiver=WebhookReceiver(...)``
to choose the secret or the window yourself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, overload

from django.core.exceptions import RequestDataTooBig
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
)
from django.views.decorators.csrf import csrf_exempt

from sayna._errors import WebhookVerificationError
from sayna._webhooks import (
    WebhookReceiver,
    WebhookSIPOutput,
    declared_length,
    receiver_provider,
    rejection_response,
)

__all__ = ["sayna_webhook", "verify_request"]

View = Callable[..., Any]


def verify_request(request: HttpRequest, receiver: WebhookReceiver) -> WebhookSIPOutput:
    """Verify the webhook in a Django request (raw ``request.body``) and return it."""
    limit = receiver.max_body_size
    declared_length(request.META.get("CONTENT_LENGTH"), limit)
    try:
        body = request.body
    except RequestDataTooBig:  # Django's own DATA_UPLOAD_MAX_MEMORY_SIZE
        raise WebhookVerificationError(
            f"Webhook body is larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (our cap: {limit}).",
            reason="body_too_large",
        ) from None
    return receiver.receive(request.headers, body)


def _decorate(view: View, receiver: WebhookReceiver | None) -> View:
    get_receiver = receiver_provider(receiver)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            call = verify_request(request, get_receiver())
        except WebhookVerificationError as exc:
            status, body = rejection_response(exc, source="sayna.contrib.django")
            return HttpResponse(body, status=status, content_type="application/json")
        result = view(request, call, *args, **kwargs)
        return HttpResponse(status=204) if result is None else result

    exempt: View = csrf_exempt(wrapper)
    return exempt


@overload
def sayna_webhook(view: View, /) -> View: ...


@overload
def sayna_webhook(*, receiver: WebhookReceiver | None = None) -> Callable[[View], View]: ...


def sayna_webhook(
    view: View | None = None, /, *, receiver: WebhookReceiver | None = None
) -> View | Callable[[View], View]:
    """Turn ``fn(request, call, ...)`` into a verified webhook view.

    Use bare (``@sayna_webhook``) or with a receiver
    (``@sayna_webhook(receiver=WebhookReceiver(secret))``).
    """
    if isinstance(view, WebhookReceiver):
        raise TypeError("pass the receiver by keyword: @sayna_webhook(receiver=...)")
    if view is not None:
        return _decorate(view, receiver)
    return lambda fn: _decorate(fn, receiver)
