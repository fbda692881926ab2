"""sayna.contrib.flask: the decorated view served through Flask's test client."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sayna import WebhookReceiver, WebhookSIPOutput
from sayna.contrib.flask import sayna_webhook
from sayna.testing import make_webhook_request, sip_webhook_payload

SECRET = "flask-adapter-secret-0123456789"
RECEIVER = WebhookReceiver(SECRET, max_body_size=4096)


@pytest.fixture
def calls() -> list[WebhookSIPOutput]:
    """What the views received."""
    return []


@pytest.fixture
def client(calls: list[WebhookSIPOutput]) -> FlaskClient:
    """A Flask app with webhook routes, and its test client."""
    app = Flask(__name__)

    @app.post("/hook")
    @sayna_webhook(receiver=RECEIVER)
    def hook(call: WebhookSIPOutput) -> None:
        calls.append(call)

    @app.route("/any", methods=["GET", "POST"])
    @sayna_webhook(receiver=RECEIVER)
    def any_method(call: WebhookSIPOutput) -> str:
        return "posted"

    @app.post("/t/<tenant>/hook")
    @sayna_webhook(receiver=RECEIVER)
    def tenant_hook(call: WebhookSIPOutput, tenant: str) -> tuple[dict[str, str], int]:
        return {"tenant": tenant, "room": call.room.name}, 202

    @app.post("/env")
    @sayna_webhook
    def from_env(call: WebhookSIPOutput) -> str:
        return call.sip_host

    return app.test_client()


def test_valid_webhook_reaches_view(client: FlaskClient, calls: list[WebhookSIPOutput]) -> None:
    """A signed POST is verified from the raw body and the view's None becomes 204."""
    headers, body = make_webhook_request(SECRET)
    response = client.post("/hook", data=body, headers=headers)
    assert response.status_code == 204
    [call] = calls
    assert call.participant.identity == "sip_+15559876543"


def test_view_result_and_url_args(client: FlaskClient) -> None:
    """Whatever the view returns is Flask's answer; URL arguments follow the call."""
    headers, body = make_webhook_request(SECRET)
    response = client.post("/t/acme/hook", data=body, headers=headers)
    assert response.status_code == 202
    assert response.get_json() == {"tenant": "acme", "room": "sip-+15551234567"}


def test_get_is_405(client: FlaskClient) -> None:
    """A route that allows GET still answers 405 to anything but POST."""
    response = client.get("/any")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    headers, body = make_webhook_request(SECRET)
    assert client.post("/any", data=body, headers=headers).data == b"posted"


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda h, b: (h, b[:-1] + b" }"), 401, "signature_mismatch"),
        (lambda h, b: ({**h, "X-Sayna-Timestamp": "soon"}, b), 401, "bad_timestamp"),
        (lambda h, b: ({k: v for k, v in h.items() if "Sig" not in k}, b), 401, "missing_header"),
        (lambda h, b: (h, b + b" " * 5000), 413, "body_too_large"),
    ],
    ids=["tampered", "bad-timestamp", "no-signature", "too-large"],
)
def test_rejections(
    client: FlaskClient, calls: list[WebhookSIPOutput], mutate: object, status: int, reason: str
) -> None:
    """Unverifiable requests get their status and reason code, and never reach the view."""
    headers, body = mutate(*make_webhook_request(SECRET))  # type: ignore[operator]
    response = client.post("/hook", data=body, headers=headers)
    assert response.status_code == status
    assert response.get_json() == {"error": reason}
    assert calls == []


def test_signed_bad_payload_is_400(client: FlaskClient) -> None:
    """Correctly signed JSON of the wrong shape is 400."""
    headers, body = make_webhook_request(SECRET, sip_webhook_payload(room="sip-1"))
    response = client.post("/hook", data=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_payload"}


def test_bare_decorator_reads_environment(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """@sayna_webhook without arguments takes the secret from SAYNA_WEBHOOK_SECRET lazily."""
    monkeypatch.delenv("SAYNA_WEBHOOK_SECRET", raising=False)
    headers, body = make_webhook_request(SECRET)
    assert client.post("/env", data=body, headers=headers).status_code == 500
    monkeypatch.setenv("SAYNA_WEBHOOK_SECRET", SECRET)
    assert client.post("/env", data=body, headers=headers).data == b"sip.example.com"
