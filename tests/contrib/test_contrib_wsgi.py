"""sayna.contrib.wsgi: a real wsgiref server on loopback, posted to with requests."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import pytest
import requests

from sayna import WebhookReceiver, WebhookSIPOutput, WebhookVerificationError
from sayna.contrib.wsgi import WebhookApp, WebhookMiddleware, read_body
from sayna.testing import make_webhook_request, sip_webhook_payload

SECRET = "wsgi-adapter-secret-0123456789"
PATH = "/hooks/sayna"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


def _fallback(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fallback " + environ["PATH_INFO"].encode()]


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[WebhookSIPOutput, dict[str, Any]]] = []

    def __call__(self, call: WebhookSIPOutput, environ: dict[str, Any]) -> object:
        self.calls.append((call, environ))
        if "x-want-json" in call.sip_headers:
            return {"room": call.room.name}
        return None


@pytest.fixture(scope="module")
def recorder() -> _Recorder:
    """Collects what the webhook handler received."""
    return _Recorder()


@pytest.fixture(scope="module")
def base_url(recorder: _Recorder) -> Iterator[str]:
    """A wsgiref server on 127.0.0.1 (port 0) in a thread, shut down cleanly."""
    app = WebhookMiddleware(
        _fallback, recorder, path=PATH, receiver=WebhookReceiver(SECRET, max_body_size=4096)
    )
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture(autouse=True)
def _clear(recorder: _Recorder) -> None:
    """Each test starts with no recorded calls."""
    recorder.calls.clear()


def _post(url: str, headers: dict[str, str], body: bytes) -> requests.Response:
    with requests.Session() as session:
        return session.post(url, data=body, headers=headers, timeout=5)


def test_valid_webhook_reaches_handler(base_url: str, recorder: _Recorder) -> None:
    """A signed POST at the path is verified, handed over with the environ, and answered 204."""
    headers, body = make_webhook_request(SECRET, event_id="EV_wsgi")
    response = _post(base_url + PATH, headers, body)
    assert response.status_code == 204
    assert response.content == b""
    [(call, environ)] = recorder.calls
    assert call.from_phone_number == "+15559876543"
    assert environ["HTTP_X_SAYNA_EVENT_ID"] == "EV_wsgi"


def test_handler_result_sent_as_json(base_url: str) -> None:
    """A handler's non-None return value is the 200 JSON answer."""
    payload = sip_webhook_payload(sip_headers={"x-want-json": "1"})
    response = _post(base_url + PATH, *make_webhook_request(SECRET, payload))
    assert response.status_code == 200
    assert response.json() == {"room": "sip-+15551234567"}


def test_other_paths_pass_through(base_url: str, recorder: _Recorder) -> None:
    """Requests for other paths reach the wrapped application untouched."""
    with requests.Session() as session:
        response = session.post(base_url + "/elsewhere", data=b"x", timeout=5)
    assert response.status_code == 200
    assert response.text == "fallback /elsewhere"
    assert recorder.calls == []


def test_get_is_405(base_url: str) -> None:
    """Anything but POST at the webhook path is 405 with Allow: POST."""
    with requests.Session() as session:
        response = session.get(base_url + PATH, timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda h, b: (h, b + b" "), 401, "signature_mismatch"),
        (lambda h, b: ({k: v for k, v in h.items() if "Event" not in k}, b), 401, "missing_header"),
        (lambda h, b: ({**h, "X-Sayna-Timestamp": "1"}, b), 401, "timestamp_out_of_window"),
        (lambda h, b: ({**h, "X-Sayna-Signature": "sha256=x"}, b), 401, "bad_signature_format"),
    ],
    ids=["tampered", "no-event-id", "stale", "bad-format"],
)
def test_rejections(
    base_url: str, recorder: _Recorder, mutate: Any, status: int, reason: str
) -> None:
    """Unverifiable requests get 401 with the reason code, and never reach the handler."""
    headers, body = mutate(*make_webhook_request(SECRET))
    response = _post(base_url + PATH, headers, body)
    assert response.status_code == status
    assert response.json() == {"error": reason}
    assert recorder.calls == []


def test_signed_bad_payload_is_400(base_url: str, recorder: _Recorder) -> None:
    """Correctly signed JSON of the wrong shape is 400."""
    response = _post(base_url + PATH, *make_webhook_request(SECRET, {"room": {}}))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_payload"}
    assert recorder.calls == []


# --- the body reader, in process (lying Content-Lengths are awkward to send) ----------


def _environ(body: bytes, **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="POST", CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    environ.update(extra)
    return environ


def _call_app(app: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    return seen[0], body


def test_reads_exactly_content_length() -> None:
    """The reader stops at CONTENT_LENGTH even when the stream holds more."""
    environ = _environ(b"hello world", CONTENT_LENGTH="5")
    assert read_body(environ, 100) == b"hello"
    assert environ["wsgi.input"].tell() == 5


def test_oversized_body_not_read() -> None:
    """A declared length over the cap is refused before a single byte is read."""
    environ = _environ(b"x" * 200)
    with pytest.raises(WebhookVerificationError) as info:
        read_body(environ, 100)
    assert info.value.reason == "body_too_large"
    assert environ["wsgi.input"].tell() == 0
    app = WebhookApp(lambda call, env: None, receiver=WebhookReceiver(SECRET, max_body_size=100))
    status, answer = _call_app(app, _environ(b"x" * 200))
    assert status.startswith("413 ")
    assert json.loads(answer) == {"error": "body_too_large"}


def test_short_body_and_bad_length() -> None:
    """A body shorter than its Content-Length, or a non-numeric length, is invalid_body."""
    for environ in (_environ(b"abc", CONTENT_LENGTH="10"), _environ(b"abc", CONTENT_LENGTH="ten")):
        with pytest.raises(WebhookVerificationError) as info:
            read_body(environ, 100)
        assert info.value.reason == "invalid_body"


def test_terminated_input_without_length() -> None:
    """Without Content-Length the body is empty, unless the server marks the input terminated."""
    assert read_body(_environ(b"abc", CONTENT_LENGTH=""), 100) == b""
    assert (
        read_body(_environ(b"abc", CONTENT_LENGTH="", **{"wsgi.input_terminated": True}), 100)
        == b"abc"
    )
    with pytest.raises(WebhookVerificationError):
        read_body(_environ(b"a" * 101, CONTENT_LENGTH="", **{"wsgi.input_terminated": True}), 100)


def test_missing_secret_is_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a receiver and without SAYNA_WEBHOOK_SECRET the app answers 500 and logs why."""
    monkeypatch.delenv("SAYNA_WEBHOOK_SECRET", raising=False)
    app = WebhookApp(lambda call, env: None)
    headers, body = make_webhook_request(SECRET)
    environ = _environ(
        body, **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    )
    status, answer = _call_app(app, environ)
    assert status.startswith("500")
    assert json.loads(answer) == {"error": "missing_secret"}
    assert "SAYNA_WEBHOOK_SECRET" in caplog.text
    monkeypatch.setenv("SAYNA_WEBHOOK_SECRET", SECRET)
    environ["wsgi.input"].seek(0)
    assert _call_app(app, environ)[0] == "204 No Content"
