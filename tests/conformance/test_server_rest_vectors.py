"""Every REST vector, replayed as a raw HTTP request against a FakeServer.

The server is configured as vectors/README.md describes (key ``sk_test_123`` of
``tenant-a``, protected hook ``sip.example.com``, rooms of both tenants); a
vector's preconditions adjust that state. Status, the listed headers and the
body must match; where ``notes`` say a message tail varies only its stable
prefix is compared, and made-up ids and audio bytes are checked for shape.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sayna.testing import FakeServer, Track, decode_speech
from sayna.testing._providers import ALL_PROVIDERS
from tests.support.shared_protocol import assert_valid, load_vectors

VECTORS = load_vectors("rest")
RECORDING_ID = "call-2026-01-01-0001"

# Preconditions, per vector: FakeServer arguments, then attributes set after start.
SERVER_ARGS: dict[str, dict[str, Any]] = {
    "auth__query_param": {"provider_credentials": ()},
    "voices__empty": {"provider_credentials": ()},
    "speak__missing_server_auth": {"provider_credentials": ALL_PROVIDERS - {"deepgram"}},
    "livekit_participant_delete__not_configured": {"livekit_configured": False},
    "livekit_rooms__not_configured": {"livekit_configured": False},
    "livekit_token__livekit_not_configured": {"livekit_configured": False},
    "livekit_webhook__not_configured": {"livekit_configured": False},
    "sip_transfer__not_configured": {"livekit_configured": False},
    "recording__storage_not_configured": {"storage_configured": False},
    "sip_call__no_outbound_address": {"sip_outbound_address": None},
    "sip_hooks_get__no_sip": {"sip_configured": False},
    "sip_hooks_post__no_cache_path": {"sip_hooks_persistent": False},
}
SERVER_ATTRS: dict[str, dict[str, Any]] = {
    "auth__auth_service_down": {
        "auth_unavailable": "error sending request for url (https://auth.example.com/validate)"
    },
    "livekit_participant_mute__failed": {
        "livekit_error": "LiveKit API error: twirp error unavailable"
    },
    "sip_call__failed": {"livekit_error": "twirp error unknown: no trunk available"},
    "sip_transfer__initiated": {"sip_transfer_status": "initiated"},
    "speak__provider_failure": {
        "tts_error": "Provider error: Deepgram API error (401 Unauthorized): invalid credentials"
    },
}
# This vector was composed against a tenant that owns no rooms.
NO_ROOMS = {"auth__query_param_fallback_after_bad_header"}


def _recording_bytes() -> bytes:
    vector = dict(VECTORS)["recording__ok"]
    return base64.b64decode(vector["response"]["body"])


def _seed(server: FakeServer, name: str) -> None:
    if name in NO_ROOMS:
        return
    server.add_room(
        "support-room-42", owner="tenant-a", sid="RM_kD3s9Lq1", creation_time=1767225600
    )
    server.add_participant(
        "support-room-42",
        "caller-1",
        name="Alice",
        sid="PA_a1",
        joined_at=1767225601,
        tracks=[Track(sid="TR_AMkXq3c9")],
    )
    server.add_participant(
        "support-room-42",
        "sip_+15559876543",
        name="Phone Caller",
        kind="SIP",
        sid="PA_b2",
        joined_at=1767225602,
        attributes={"sip.phoneNumber": "+15559876543", "sip.trunkPhoneNumber": "+15551234567"},
    )
    server.add_room("tenant-b-room", owner="tenant-b")
    if name.startswith("sip_transfer"):
        server.add_room("sip-+15551234567", owner="tenant-a")
        server.add_participant("sip-+15551234567", "sip_+15559876543", kind="SIP")
    if name == "sip_hooks_delete__ok":
        requests.post(
            server.url + "/sip/hooks",
            json={
                "hooks": [
                    {"host": "customer.example.org", "url": "https://c.example/h", "auth_id": "x"}
                ]
            },
            headers={"Authorization": "Bearer sk_test_123"},
            timeout=5,
        ).raise_for_status()


@pytest.fixture
def vector_server(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    name: str = request.param
    server = FakeServer(
        api_keys={"sk_test_123": "tenant-a"},
        livekit_url="wss://livekit.example.com",
        protected_hooks=[
            {
                "host": "sip.example.com",
                "url": "https://hooks.example.com/sayna",
                "auth_id": "tenant-a",
            }
        ],
        recordings={RECORDING_ID: _recording_bytes()},
        **SERVER_ARGS.get(name, {}),
    )
    with server:
        _seed(server, name)
        for attribute, value in SERVER_ATTRS.get(name, {}).items():
            setattr(server, attribute, value)
        yield server


def _stable_prefix(expected: str, notes: str | None) -> str | None:
    """The part of ``expected`` before the variable tail the notes talk about."""
    if not notes:
        return None
    match = re.search(r"'([^']+)'", notes)
    if match is None or match.group(1) not in expected:
        return None
    marker = match.group(1)
    return expected[: expected.index(marker) + len(marker)]


def _send(server: FakeServer, name: str, request: dict[str, Any]) -> requests.Response:
    headers = dict(request["headers"])
    data: bytes | None = None
    if "body" in request:
        data = json.dumps(request["body"], separators=(",", ":")).encode()
    elif "body_raw" in request:
        data = request["body_raw"].encode()
    if name == "livekit_webhook__ok":
        assert data is not None
        headers["Authorization"] = server.livekit_webhook_headers(data)["Authorization"]
    return requests.request(
        request["method"],
        server.url + request["path"],
        params=request.get("query"),
        headers=headers,
        data=data,
        timeout=10,
    )


def _check_json(name: str, vector: dict[str, Any], actual: Any) -> None:
    expected = vector["response"]["body"]
    if name == "livekit_token__ok":
        token = actual.pop("token")
        expected = {k: v for k, v in expected.items() if k != "token"}
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert json.loads(base64.urlsafe_b64decode(header + "==="))["alg"] == "HS256"
        assert claims["sub"] == "caller-1"
        assert claims["video"]["room"] == "support-room-42"
        assert signature
    elif name.startswith("sip_call__ok"):
        assert actual.pop("participant_id").startswith("PA_")
        assert actual.pop("sip_call_id").startswith("SCL_")
        expected = {k: v for k, v in expected.items() if k not in ("participant_id", "sip_call_id")}
    elif name == "voices__ok":
        # Same providers; every voice of the vector is in the stand-in catalogue.
        assert actual.keys() == expected.keys()
        for provider, voices in expected.items():
            for voice in voices:
                assert voice in actual[provider]
        return
    elif "hooks" in expected:
        by_host = sorted(actual["hooks"], key=lambda h: h["host"])
        assert by_host == sorted(expected["hooks"], key=lambda h: h["host"])
        return
    prefix_field = next(
        (
            key
            for key, value in expected.items()
            if isinstance(value, str) and _stable_prefix(value, vector.get("notes"))
        ),
        None,
    )
    if prefix_field is not None:
        prefix = _stable_prefix(expected[prefix_field], vector.get("notes"))
        assert prefix is not None
        assert actual.pop(prefix_field).startswith(prefix)
        expected = {k: v for k, v in expected.items() if k != prefix_field}
    assert actual == expected


@pytest.mark.parametrize(
    ("vector_server", "name", "vector"),
    [(name, name, vector) for name, vector in VECTORS],
    ids=[name for name, _ in VECTORS],
    indirect=["vector_server"],
)
def test_rest_vector(vector_server: FakeServer, name: str, vector: dict[str, Any]) -> None:
    """The FakeServer answers the vector's request with the vector's response."""
    reply = _send(vector_server, name, vector["request"])
    expected = vector["response"]
    assert reply.status_code == expected["status"], reply.text
    encoding = expected["body_encoding"]
    for header, value in expected["headers"].items():
        if header == "content-length" and encoding == "base64" and name.startswith("speak"):
            assert reply.headers[header] == str(len(reply.content))
        else:
            assert reply.headers.get(header) == value, header
    if encoding == "empty":
        assert reply.content == b""
    elif encoding == "text":
        prefix = _stable_prefix(expected["body"], vector.get("notes"))
        if prefix is None:
            assert reply.text == expected["body"]
        else:
            assert reply.text.startswith(prefix)
    elif encoding == "json":
        actual = reply.json()
        component = (vector.get("openapi") or {}).get("response")
        if component is not None:
            assert_valid(actual, component)
        _check_json(name, vector, actual)
    elif name == "speak__ok_linear16":
        text = vector["request"]["body"]["text"]
        assert decode_speech(reply.content, 24000) == text
    elif name == "speak__ok_mp3_with_override":
        assert reply.content[:2] == b"\xff\xfb"  # MPEG-1 Layer III frame sync
    else:
        assert reply.content == base64.b64decode(expected["body"])


def test_every_vector_is_replayed() -> None:
    """The parametrisation covers every file in vectors/rest/ and no precondition is stale."""
    names = {name for name, _ in VECTORS}
    assert len(names) == len(VECTORS) >= 70
    assert set(SERVER_ARGS) | set(SERVER_ATTRS) | NO_ROOMS <= names
