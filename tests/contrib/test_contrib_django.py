"""sayna.contrib.django: the decorated view served through Django's test client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from django.conf import settings

if not settings.configured:  # configure once, whoever imports Django first
    settings.configure(
        SECRET_KEY="django-test-only-key",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()

from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from sayna import WebhookReceiver, WebhookSIPOutput
from sayna.contrib.django import sayna_webhook
from sayna.testing import make_webhook_request, sip_webhook_payload

SECRET = "django-adapter-secret-0123456789"
RECEIVER = WebhookReceiver(SECRET, max_body_size=4096)
urlpatterns: list[Any] = []


class _URLConf:
    """A throw-away URLconf (hashable, unlike a list) for one test."""

    def __init__(self, view: Callable[..., Any], route: str) -> None:
        self.urlpatterns = [path(route, view)]


@pytest.fixture
def serve() -> Iterator[Callable[..., Client]]:
    """Route a view at /hook/ (or ``route``) and return a CSRF-enforcing client."""
    active: list[override_settings] = []

    def start(view: Callable[..., Any], route: str = "hook/") -> Client:
        # Everything the test relies on is set here too, in case another module
        # configured Django first with different settings.
        override = override_settings(
            ROOT_URLCONF=_URLConf(view, route),
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            ALLOWED_HOSTS=["testserver"],
        )
        override.enable()
        active.append(override)
        return Client(enforce_csrf_checks=True)

    yield start
    for override in reversed(active):
        override.disable()


def _post(client: Client, url: str, headers: dict[str, str], body: bytes) -> Any:
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(url, data=body, content_type="application/json", headers=extra)


def test_valid_webhook_reaches_view(serve: Callable[..., Client]) -> None:
    """A signed POST passes CSRF, and the view gets the request and the parsed call (204)."""
    seen: list[tuple[HttpRequest, WebhookSIPOutput]] = []

    @sayna_webhook(receiver=RECEIVER)
    def view(request: HttpRequest, call: WebhookSIPOutput) -> None:
        seen.append((request, call))

    client = serve(view)
    response = _post(client, "/hook/", *make_webhook_request(SECRET, event_id="EV_dj"))
    assert response.status_code == 204
    [(request, call)] = seen
    assert request.headers["X-Sayna-Event-Id"] == "EV_dj"
    assert call.room.sid == "RM_1"


def test_csrf_really_enforced_without_decorator(serve: Callable[..., Client]) -> None:
    """Control: the same client gets 403 from an undecorated view, so the exemption matters."""

    def plain(request: HttpRequest) -> HttpResponse:
        return HttpResponse("never")

    response = _post(serve(plain), "/hook/", *make_webhook_request(SECRET))
    assert response.status_code == 403


def test_view_response_and_url_kwargs(serve: Callable[..., Client]) -> None:
    """The view's HttpResponse is returned as is, and URL arguments follow the call."""

    @sayna_webhook(receiver=RECEIVER)
    def view(request: HttpRequest, call: WebhookSIPOutput, tenant: str) -> HttpResponse:
        return HttpResponse(f"{tenant}:{call.sip_host}", status=202)

    client = serve(view, "t/<str:tenant>/hook/")
    response = _post(client, "/t/acme/hook/", *make_webhook_request(SECRET))
    assert response.status_code == 202
    assert response.content == b"acme:sip.example.com"


def test_get_is_405(serve: Callable[..., Client]) -> None:
    """Only POST is allowed."""
    client = serve(sayna_webhook(receiver=RECEIVER)(lambda request, call: None))
    response = client.get("/hook/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda h, b: (h, b.replace(b"+1555", b"+1666")), 401, "signature_mismatch"),
        (lambda h, b: ({**h, "X-Sayna-Signature": ""}, b), 401, "missing_header"),
        (lambda h, b: ({**h, "X-Sayna-Timestamp": "12"}, b), 401, "timestamp_out_of_window"),
        (lambda h, b: (h, b + b" " * 5000), 413, "body_too_large"),
    ],
    ids=["tampered", "empty-signature", "stale", "too-large"],
)
def test_rejections(serve: Callable[..., Client], mutate: Any, status: int, reason: str) -> None:
    """Unverifiable requests get their status and reason code, and never reach the view."""
    seen: list[WebhookSIPOutput] = []
    client = serve(sayna_webhook(receiver=RECEIVER)(lambda request, call: seen.append(call)))
    response = _post(client, "/hook/", *mutate(*make_webhook_request(SECRET)))
    assert response.status_code == status
    assert json.loads(response.content) == {"error": reason}
    assert seen == []


def test_signed_bad_payload_is_400(serve: Callable[..., Client]) -> None:
    """Correctly signed JSON of the wrong shape is 400."""
    client = serve(sayna_webhook(receiver=RECEIVER)(lambda request, call: None))
    payload = sip_webhook_payload(from_phone_number=15559876543)
    response = _post(client, "/hook/", *make_webhook_request(SECRET, payload))
    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "invalid_payload"}


def test_bare_decorator_reads_environment(
    serve: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """@sayna_webhook without arguments takes the secret from SAYNA_WEBHOOK_SECRET lazily."""
    monkeypatch.delenv("SAYNA_WEBHOOK_SECRET", raising=False)

    @sayna_webhook
    def view(request: HttpRequest, call: WebhookSIPOutput) -> HttpResponse:
        return HttpResponse(call.to_phone_number)

    client = serve(view)
    assert _post(client, "/hook/", *make_webhook_request(SECRET)).status_code == 500
    monkeypatch.setenv("SAYNA_WEBHOOK_SECRET", SECRET)
    response = _post(client, "/hook/", *make_webhook_request(SECRET))
    assert response.content == b"+15551234567"


def test_receiver_must_be_a_keyword() -> None:
    """Passing the receiver positionally is a clear TypeError, not a broken view."""
    with pytest.raises(TypeError, match="receiver="):
        sayna_webhook(RECEIVER)  # type: ignore[call-overload]
