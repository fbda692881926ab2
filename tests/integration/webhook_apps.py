"""Webhook receivers that gunicorn serves in the body-limit tests, each with a peak-RSS view.

``flask_app`` uses ``sayna.contrib.flask``; ``wsgi_app`` uses
``sayna.contrib.wsgi``. ``GET /peak`` answers the worker's peak resident set
(``VmHWM`` from ``/proc/self/status``, in KiB), so a test can see what a
request cost the worker that served it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import flask

from sayna import WebhookReceiver
from sayna.contrib.flask import sayna_webhook
from sayna.contrib.wsgi import WebhookMiddleware

SECRET = "integration-webhook-secret-0123456789"
LIMIT = 1024 * 1024


def peak_kib() -> int:
    """This process's peak resident set in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


flask_app = flask.Flask(__name__)


@flask_app.get("/peak")
def peak() -> dict[str, int]:
    return {"peak_kib": peak_kib()}


@flask_app.post("/hooks/sayna")
@sayna_webhook(receiver=WebhookReceiver(SECRET, max_body_size=LIMIT))
def flask_hook(call: Any) -> None:
    return None


def _peak_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = f'{{"peak_kib": {peak_kib()}}}'.encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


wsgi_app = WebhookMiddleware(
    _peak_app,
    lambda call, environ: None,
    path="/hooks/sayna",
    receiver=WebhookReceiver(SECRET, max_body_size=LIMIT),
)


def _django_app() -> Any:
    """``sayna.contrib.django`` behind Django's own WSGI handler (settings made here)."""
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="integration-only",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        INSTALLED_APPS=[],
    )
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


def __getattr__(name: str) -> Any:
    # Django is configured only in the worker that serves it, never on import.
    if name == "django_app":
        return _django_app()
    if name == "urlpatterns":
        from django.http import HttpRequest, JsonResponse
        from django.urls import path

        from sayna.contrib.django import sayna_webhook as django_webhook

        def django_peak(request: HttpRequest) -> JsonResponse:
            return JsonResponse({"peak_kib": peak_kib()})

        @django_webhook(receiver=WebhookReceiver(SECRET, max_body_size=LIMIT))
        def django_hook(request: HttpRequest, call: Any) -> None:
            return None

        return [path("peak", django_peak), path("hooks/sayna", django_hook)]
    raise AttributeError(name)
