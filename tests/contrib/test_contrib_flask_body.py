"""sayna.contrib.flask reads the body itself, bounded: what the view and hooks still see."""

from __future__ import annotations

import io

import flask
from flask import Flask

from sayna import WebhookReceiver, WebhookSIPOutput
from sayna.contrib.flask import sayna_webhook
from sayna.testing import make_webhook_request

SECRET = "flask-body-secret-0123456789"
RECEIVER = WebhookReceiver(SECRET, max_body_size=4096)


def test_view_still_gets_the_raw_body_from_get_data() -> None:
    """After verification, request.get_data() in the view returns the verified bytes."""
    app = Flask(__name__)
    seen: list[bytes] = []

    @app.post("/hook")
    @sayna_webhook(receiver=RECEIVER)
    def hook(call: WebhookSIPOutput) -> None:
        seen.append(flask.request.get_data())

    headers, body = make_webhook_request(SECRET)
    assert app.test_client().post("/hook", data=body, headers=headers).status_code == 204
    assert seen == [body]


def test_body_read_by_a_before_request_hook_is_still_verified() -> None:
    """A body another hook already read with get_data() is verified from werkzeug's copy."""
    app = Flask(__name__)

    @app.before_request
    def peek() -> None:
        flask.request.get_data()

    @app.post("/hook")
    @sayna_webhook(receiver=RECEIVER)
    def hook(call: WebhookSIPOutput) -> None:
        return None

    headers, body = make_webhook_request(SECRET)
    assert app.test_client().post("/hook", data=body, headers=headers).status_code == 204


def test_body_over_the_limit_without_content_length_is_refused() -> None:
    """A terminated stream with no Content-Length over the limit is answered 413."""
    app = Flask(__name__)

    @app.post("/hook")
    @sayna_webhook(receiver=RECEIVER)
    def hook(call: WebhookSIPOutput) -> None:
        return None

    headers, _ = make_webhook_request(SECRET)
    response = app.test_client().post(
        "/hook",
        input_stream=io.BytesIO(b"x" * 8192),
        headers=headers,
        # As a server that decodes chunked requests itself says it.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.get_json() == {"error": "body_too_large"}
