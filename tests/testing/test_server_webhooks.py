"""FakeServer SIP webhooks (§6): simulated inbound calls and the LiveKit webhook route."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from sayna._signing import compute_signature
from sayna.testing import FakeServer
from sayna.testing._livekit import sip_domain
from tests.support.server_helpers import connect, recv_json, send, wait_until

SECRET = "a-webhook-secret-of-32-characters"


class Receiver:
    """A loopback HTTP endpoint that records what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        calls, answer = self.calls, status

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                reply = b'{"ok":true}'
                self.send_response(answer)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def test_inbound_call_posts_a_signed_webhook(receiver: Receiver) -> None:
    """simulate_inbound_call signs the §6.2 body with the hook's secret and returns the answer."""
    with FakeServer(
        protected_hooks=[
            {
                "host": "sip.example.com",
                "url": receiver.url,
                "auth_id": "tenant-a",
                "secret": SECRET,
            }
        ]
    ) as server:
        status, body = server.simulate_inbound_call(
            host="sip.example.com",
            from_phone_number="+15559876543",
            to_phone_number="+15551234567",
            participant_name="Phone Caller",
            sip_headers={"x-call-id": "abc"},
            event_id="EV_test1",
        )
        room = server.state.rooms["sip-+15551234567"]
    assert (status, body) == (200, b'{"ok":true}')
    headers, raw = receiver.calls[0]
    assert headers["content-type"] == "application/json"
    assert headers["x-sayna-event-id"] == "EV_test1"
    assert headers["x-sayna-signature-version"] == "v1"
    assert abs(int(headers["x-sayna-timestamp"]) - time.time()) < 5
    expected = compute_signature(SECRET, headers["x-sayna-timestamp"], "EV_test1", raw)
    assert headers["x-sayna-signature"] == f"v1={expected}"
    payload = json.loads(raw)
    assert list(payload) == [
        "participant",
        "room",
        "from_phone_number",
        "to_phone_number",
        "room_prefix",
        "sip_host",
        "sip_headers",
    ]
    assert payload["participant"]["identity"] == "sip_+15559876543"
    assert payload["participant"]["name"] == "Phone Caller"
    assert payload["room"] == {"name": "sip-+15551234567", "sid": room.sid}
    assert payload["from_phone_number"] == "+15559876543"
    assert payload["to_phone_number"] == "+15551234567"
    assert (payload["room_prefix"], payload["sip_host"]) == ("sip-", "sip.example.com")
    assert payload["sip_headers"] == {
        "to": "<sip:+15551234567@sip.example.com>",
        "x-call-id": "abc",
    }
    assert room.owner == "tenant-a"
    assert room.participants["sip_+15559876543"].kind == "SIP"


def test_api_hooks_use_the_global_secret(receiver: Receiver) -> None:
    """Hooks added through /sip/hooks are signed with webhook_secret; errors come back as-is."""
    failing = Receiver(status=503)
    try:
        with FakeServer(webhook_secret=SECRET) as server:
            hooks = [
                {"host": "a.example", "url": receiver.url, "auth_id": ""},
                {"host": "b.example", "url": failing.url, "auth_id": ""},
            ]
            requests.post(server.url + "/sip/hooks", json={"hooks": hooks}, timeout=5)
            status, _ = server.simulate_inbound_call(
                host="A.example", from_phone_number="+1", to_phone_number="+2"
            )
            assert status == 200
            status, _ = server.simulate_inbound_call(
                host="b.example", from_phone_number="+1", to_phone_number="+3"
            )
            assert status == 503
    finally:
        failing.close()
    headers, raw = receiver.calls[0]
    signature = compute_signature(
        SECRET, headers["x-sayna-timestamp"], headers["x-sayna-event-id"], raw
    )
    assert headers["x-sayna-signature"] == f"v1={signature}"
    assert headers["x-sayna-event-id"].startswith("EV_")


def test_inbound_call_that_routes_nowhere_raises() -> None:
    """No hook for the host, or no secret to sign with, is a LookupError."""
    with FakeServer() as server:
        with pytest.raises(LookupError, match="no SIP hook"):
            server.simulate_inbound_call(
                host="x.example", from_phone_number="+1", to_phone_number="+2"
            )
        requests.post(
            server.url + "/sip/hooks",
            json={"hooks": [{"host": "x.example", "url": "http://127.0.0.1:9/", "auth_id": ""}]},
            timeout=5,
        )
        with pytest.raises(LookupError, match="secret"):
            server.simulate_inbound_call(
                host="x.example", from_phone_number="+1", to_phone_number="+2"
            )


def test_session_in_the_room_sees_the_caller_arrive(receiver: Receiver) -> None:
    """An agent session already in the SIP room gets participant_connected for the caller."""
    with FakeServer(webhook_secret=SECRET) as server:
        requests.post(
            server.url + "/sip/hooks",
            json={"hooks": [{"host": "s.example", "url": receiver.url, "auth_id": ""}]},
            timeout=5,
        )
        ws = connect(server.ws_url)
        send(ws, {"type": "config", "audio": False, "livekit": {"room_name": "sip-+2"}})
        assert recv_json(ws)["type"] == "ready"
        server.simulate_inbound_call(host="s.example", from_phone_number="+1", to_phone_number="+2")
        frame = recv_json(ws)
        assert frame["type"] == "participant_connected"
        assert frame["participant"]["identity"] == "sip_+1"
        ws.close()


def test_livekit_webhook_route_forwards_in_the_background(receiver: Receiver) -> None:
    """A LiveKit-signed participant_joined posted to /livekit/webhook triggers the SIP webhook."""
    with FakeServer(webhook_secret=SECRET) as server:
        requests.post(
            server.url + "/sip/hooks",
            json={"hooks": [{"host": "sip.example.com", "url": receiver.url, "auth_id": ""}]},
            timeout=5,
        )
        event = {
            "event": "participant_joined",
            "id": "EV_lk1",
            "room": {"sid": "RM_1", "name": "sip-+15551234567"},
            "participant": {
                "sid": "PA_1",
                "identity": "sip_+1555",
                "name": "Caller",
                "attributes": {
                    "sip.phoneNumber": "+1555",
                    "sip.trunkPhoneNumber": "+15551234567",
                    "sip.h.x-to-ip": "sip:+15551234567@SIP.example.com;transport=udp",
                    "sip.h.to": "<sip:+15551234567@other.example>",
                },
            },
        }
        body = json.dumps(event).encode()
        url = server.url + "/livekit/webhook"
        unsigned = requests.post(
            url, data=body, headers={"Authorization": "Bearer x.y.z"}, timeout=5
        )
        assert unsigned.status_code == 401
        signed = requests.post(
            url, data=body, headers=server.livekit_webhook_headers(body), timeout=5
        )
        assert signed.json() == {"status": "received"}
        assert (
            requests.post(
                url, data=b"[1]", headers=server.livekit_webhook_headers(b"[1]"), timeout=5
            ).status_code
            == 400
        )
        wait_until(lambda: len(receiver.calls) == 1)
    # x-to-ip wins over the To header.
    payload = json.loads(receiver.calls[0][1])
    assert payload["sip_host"] == "sip.example.com"
    assert receiver.calls[0][0]["x-sayna-event-id"] == "EV_lk1"


@pytest.mark.parametrize(
    ("header", "domain"),
    [
        ("<sip:+1555@Sip.Example.com>", "sip.example.com"),
        ("sip:+1555@host.example:5060;transport=tcp", "host.example:5060"),
        ("<sips:bob@secure.example>;tag=1", "secure.example"),
        ("plain.example.org:5080", "plain.example.org"),
        ("no-dots", None),
        ("has space.example", None),
    ],
)
def test_sip_destination_domain_parsing(header: str, domain: str | None) -> None:
    """SIP destination headers are reduced to a domain as §6.1 describes."""
    assert sip_domain(header) == domain
