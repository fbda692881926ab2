"""FakeServer REST behaviour beyond the shared vectors: auth, tenants, hooks, audio, HTTP."""

from __future__ import annotations

import socket
import struct

import pytest
import requests

from sayna.testing import FakeServer, decode_speech, speech_duration

KEY_A = {"Authorization": "Bearer key-a"}
KEY_B = {"Authorization": "Bearer key-b"}


pytestmark = pytest.mark.fake_server(
    api_keys={"key-a": "tenant-a", "key-b": "tenant-b"},
    protected_hooks=[{"host": "Fixed.Example", "url": "https://fixed/h", "auth_id": "tenant-a"}],
)


def _speak(server: FakeServer, **tts: object) -> requests.Response:
    config = {"provider": "deepgram", "model": "aura-asteria-en", **tts}
    return requests.post(
        server.url + "/speak",
        json={"text": "Testing one two.", "tts_config": config},
        headers=KEY_A,
        timeout=5,
    )


def test_auth_header_rules(server: FakeServer) -> None:
    """Bearer is case-sensitive, a valid header beats api_key, a bad header falls back to it."""
    url = server.url + "/voices"
    assert requests.get(url, headers={"Authorization": "bearer key-a"}, timeout=5).json() == {
        "error": "invalid_auth_header",
        "message": "Invalid Authorization header format (expected 'Bearer {token}') "
        "and missing api_key query parameter",
    }
    assert requests.get(url, headers={"Authorization": "Bearer "}, timeout=5).status_code == 401
    good_header = requests.get(url + "?api_key=nope", headers=KEY_A, timeout=5)
    assert good_header.status_code == 200
    fallback = requests.get(url + "?api_key=key-b", headers={"Authorization": "Token x"}, timeout=5)
    assert fallback.status_code == 200
    assert requests.get(url + "?api_key=%20", timeout=5).json()["error"] == "missing_auth_header"
    assert requests.get(server.url + "/", timeout=5).status_code == 200  # never protected


def test_auth_off_accepts_anything() -> None:
    """Without api_keys every route answers with or without a key and rooms are shared."""
    with FakeServer() as server:
        reply = requests.post(
            server.url + "/livekit/token",
            json={"room_name": "r", "participant_name": "n", "participant_identity": "i"},
            headers={"Authorization": "Bearer whatever"},
            timeout=5,
        )
        assert reply.status_code == 200
        assert reply.json()["livekit_url"] == "wss://livekit.local.test"
        # Without a tenant no room is created by the token call (§2.4).
        assert requests.get(server.url + "/livekit/rooms", timeout=5).json() == {"rooms": []}


def test_token_claims_room_and_isolates_tenants(server: FakeServer) -> None:
    """A tenant's token call creates and stamps the room; the other tenant cannot see or join it."""
    body = {"room_name": "team", "participant_name": "Ann", "participant_identity": "ann"}
    url = server.url + "/livekit/token"
    assert requests.post(url, json=body, headers=KEY_A, timeout=5).status_code == 200
    rooms_a = requests.get(server.url + "/livekit/rooms", headers=KEY_A, timeout=5).json()
    assert [r["name"] for r in rooms_a["rooms"]] == ["team"]
    assert requests.get(server.url + "/livekit/rooms", headers=KEY_B, timeout=5).json() == {
        "rooms": []
    }
    details = requests.get(server.url + "/livekit/rooms/team", headers=KEY_A, timeout=5).json()
    assert details["metadata"] == '{"auth_id":"tenant-a"}'
    masked = requests.get(server.url + "/livekit/rooms/team", headers=KEY_B, timeout=5)
    assert masked.status_code == 404
    assert masked.json() == {"error": "Room 'team' not found or not accessible"}
    refused = requests.post(url, json=body, headers=KEY_B, timeout=5)
    assert refused.status_code == 403


def test_unstamped_room_is_claimed_by_token_but_hidden_from_reads(server: FakeServer) -> None:
    """An existing room without auth_id is refused for reads, and claimed by a token call."""
    server.add_room("legacy")
    assert (
        requests.get(server.url + "/livekit/rooms/legacy", headers=KEY_A, timeout=5).status_code
        == 404
    )
    body = {"room_name": "legacy", "participant_name": "n", "participant_identity": "i"}
    requests.post(server.url + "/livekit/token", json=body, headers=KEY_A, timeout=5)
    assert (
        requests.get(server.url + "/livekit/rooms/legacy", headers=KEY_A, timeout=5).status_code
        == 200
    )


def test_token_is_a_verifiable_jwt(server: FakeServer) -> None:
    """The token is an HS256 JWT over LiveKit-like claims, signed with the dev secret."""
    import base64
    import hashlib
    import hmac
    import json

    body = {"room_name": "r1", "participant_name": "Ann", "participant_identity": "ann"}
    token = requests.post(
        server.url + "/livekit/token", json=body, headers=KEY_A, timeout=5
    ).json()["token"]
    header, payload, signature = token.split(".")
    expected = hmac.new(
        server.livekit_api_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256
    ).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "ann"
    assert claims["name"] == "Ann"
    assert claims["iss"] == server.livekit_api_key
    assert claims["video"] == {
        "room": "r1",
        "roomJoin": True,
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    assert claims["exp"] > claims["nbf"]


def test_room_name_is_percent_decoded(server: FakeServer) -> None:
    """The room path segment is percent-decoded before lookup."""
    server.add_room("a b/c", owner="tenant-a")
    reply = requests.get(server.url + "/livekit/rooms/a%20b%2Fc", headers=KEY_A, timeout=5)
    assert reply.json()["name"] == "a b/c"


def test_participant_remove_and_mute(server: FakeServer) -> None:
    """Participants can be muted per track and removed; the room model reflects it."""
    server.add_room("r", owner="tenant-a")
    caller = server.add_participant("r", "caller", name="C")
    track = caller.tracks[0].sid
    mute = {"room_name": "r", "participant_identity": "caller", "track_sid": track, "muted": True}
    reply = requests.post(
        server.url + "/livekit/participant/mute", json=mute, headers=KEY_A, timeout=5
    )
    assert reply.json()["muted"] is True
    assert caller.tracks[0].muted
    remove = {"room_name": "r", "participant_identity": "caller"}
    url = server.url + "/livekit/participant"
    assert requests.delete(url, json=remove, headers=KEY_A, timeout=5).json()["status"] == "removed"
    again = requests.delete(url, json=remove, headers=KEY_A, timeout=5)
    assert again.json() == {
        "error": "Participant 'caller' not found in room 'r'",
        "code": "PARTICIPANT_NOT_FOUND",
    }


def test_sip_hooks_upsert_delete_and_protection(server: FakeServer) -> None:
    """Hooks are normalised, upserted by host, deleted ignoring case; config hosts are fixed."""
    url = server.url + "/sip/hooks"
    first = {"host": " A.Example ", "url": "https://a/1", "auth_id": " tenant-a "}
    table = requests.post(url, json={"hooks": [first]}, headers=KEY_A, timeout=5).json()["hooks"]
    assert table == [
        {"host": "fixed.example", "url": "https://fixed/h", "auth_id": "tenant-a"},
        {"host": "a.example", "url": "https://a/1", "auth_id": "tenant-a"},
    ]
    replaced = dict(first, url="https://a/2")
    table = requests.post(url, json={"hooks": [replaced]}, headers=KEY_A, timeout=5).json()["hooks"]
    assert [h["url"] for h in table] == ["https://fixed/h", "https://a/2"]
    fixed = requests.post(
        url,
        json={"hooks": [{"host": "FIXED.example", "url": "x", "auth_id": "t"}, first]},
        headers=KEY_A,
        timeout=5,
    )
    assert fixed.status_code == 405
    deleted = requests.delete(url, json={"hosts": ["A.EXAMPLE", "zzz"]}, headers=KEY_A, timeout=5)
    assert deleted.json()["hooks"] == [table[0]]
    assert requests.get(url, headers=KEY_A, timeout=5).json()["hooks"] == [table[0]]


def test_blank_auth_id_is_fine_when_auth_is_off() -> None:
    """With auth off a hook may have an empty auth_id."""
    with FakeServer() as server:
        hook = {"host": "h.example", "url": "https://h", "auth_id": ""}
        reply = requests.post(server.url + "/sip/hooks", json={"hooks": [hook]}, timeout=5)
        assert reply.json() == {"hooks": [hook]}


def test_sip_call_places_a_sip_participant(server: FakeServer) -> None:
    """A SIP call puts a SIP participant into a new room stamped for the caller's tenant."""
    body = {
        "room_name": "out-1",
        "participant_name": "Customer",
        "participant_identity": "pstn",
        "from_phone_number": "+15105550123",
        "to_phone_number": "+15551234567",
    }
    reply = requests.post(server.url + "/sip/call", json=body, headers=KEY_A, timeout=5).json()
    room = requests.get(server.url + "/livekit/rooms/out-1", headers=KEY_A, timeout=5).json()
    assert room["participants"][0]["identity"] == "pstn"
    assert room["participants"][0]["kind"] == "SIP"
    assert room["participants"][0]["sid"] == reply["participant_id"]


def test_sip_transfer_removes_the_caller(server: FakeServer) -> None:
    """A successful transfer answers 'completed' and the caller leaves the room shortly after."""
    server.add_room("call", owner="tenant-a")
    server.add_participant("call", "sip_1", kind="SIP")
    body = {"room_name": "call", "participant_identity": "sip_1", "transfer_to": " +1555 "}
    reply = requests.post(server.url + "/sip/transfer", json=body, headers=KEY_A, timeout=5)
    assert reply.json()["transfer_to"] == "tel:+1555"
    from tests.support.server_helpers import wait_until

    wait_until(lambda: not server.state.rooms["call"].participants)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "Phone number cannot be empty"),
        ("+", "Phone number must contain at least one digit"),
        ("1+2", "Invalid character '+' at position 1 - plus sign is only allowed at the beginning"),
        (
            "+1 (555)",
            "Invalid character ' ' at position 2 - only digits (0-9) and optional leading '+' "
            "are allowed",
        ),
    ],
)
def test_phone_number_reasons(server: FakeServer, number: str, reason: str) -> None:
    """Phone numbers are checked with the server's exact reasons (§2.11)."""
    body = {"room_name": "r", "participant_identity": "p", "transfer_to": number}
    reply = requests.post(server.url + "/sip/transfer", json=body, headers=KEY_A, timeout=5)
    assert reply.json() == {
        "error": f"Invalid phone number: {reason}",
        "code": "INVALID_PHONE_NUMBER",
    }


def test_speak_linear16_headers_and_content(server: FakeServer) -> None:
    """/speak returns raw PCM with the format headers; it decodes to the text."""
    reply = _speak(server, sample_rate=16000)
    assert reply.headers["content-type"] == "audio/pcm"
    assert reply.headers["x-audio-format"] == "linear16"
    assert reply.headers["x-sample-rate"] == "16000"
    assert int(reply.headers["content-length"]) == len(reply.content)
    assert decode_speech(reply.content, 16000) == "Testing one two."
    assert len(reply.content) == round(speech_duration("Testing one two.") * 16000) * 2


def test_speak_defaults_to_24k_linear16(server: FakeServer) -> None:
    """Without format or rate the defaults are linear16 at 24000 Hz."""
    reply = _speak(server)
    assert (reply.headers["x-audio-format"], reply.headers["x-sample-rate"]) == (
        "linear16",
        "24000",
    )
    assert decode_speech(reply.content, 24000) == "Testing one two."


def test_speak_wav_is_a_riff_file(server: FakeServer) -> None:
    """wav output is a canonical PCM WAV whose data decodes to the text."""
    reply = _speak(server, audio_format="wav", sample_rate=8000)
    data = reply.content
    assert reply.headers["content-type"] == "audio/wav"
    assert data[:4] == b"RIFF"
    assert data[8:16] == b"WAVEfmt "
    channels, rate, _, _, bits = struct.unpack("<HIIHH", data[22:36])
    assert (channels, rate, bits) == (1, 8000, 16)
    assert struct.unpack("<I", data[40:44])[0] == len(data) - 44
    assert decode_speech(data[44:], 8000) == "Testing one two."


@pytest.mark.parametrize(
    ("audio_format", "content_type", "magic"),
    [
        ("mulaw", "audio/basic", None),
        ("mp3", "audio/mpeg", b"\xff\xf3"),
        ("opus", "audio/ogg", b"OggS"),
        ("mp3_44100_128", "application/octet-stream", b"\xff\xfb"),
    ],
)
def test_speak_other_formats(
    server: FakeServer, audio_format: str, content_type: str, magic: bytes | None
) -> None:
    """Other formats get the server's content types and honest containers."""
    reply = _speak(
        server, audio_format=audio_format, sample_rate=24000 if magic != b"\xff\xfb" else 44100
    )
    assert reply.headers["content-type"] == content_type
    assert reply.content
    if magic is not None:
        assert reply.content.startswith(magic)
    else:
        assert len(reply.content) == len(_speak(server, sample_rate=24000).content) // 2


def test_speak_tts_error_status_depends_on_request_auth(server: FakeServer) -> None:
    """A provider failure is 500, or 400 when request credentials look rejected."""
    server.tts_error = "Deepgram API error (401 Unauthorized): invalid credentials"
    assert _speak(server).status_code == 500
    with_auth = _speak(server, auth={"api_key": "mine"})
    assert with_auth.status_code == 400
    assert with_auth.json()["error"].startswith("TTS synthesis error: ")
    server.tts_error = None
    assert _speak(server).status_code == 200


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        (
            {"api_key": "k", "extra": 1, "b": 2},
            "Unsupported auth field(s) for provider deepgram: b, extra",
        ),
        ({"api_key": ""}, "Auth field 'api_key' is required for provider deepgram"),
        ({"api_key": 5}, "Auth field 'api_key' must be a string for provider deepgram"),
    ],
)
def test_speak_auth_input_reasons(server: FakeServer, auth: dict[str, object], reason: str) -> None:
    """Malformed request credentials are rejected with the §4.3.3 reasons."""
    reply = _speak(server, auth=auth)
    assert reply.status_code == 400
    assert reply.json() == {"error": f"Invalid auth input for provider deepgram: {reason}"}


def test_keep_alive_serves_many_requests_on_one_connection(server: FakeServer) -> None:
    """A pooled requests.Session reuses one TCP connection for many requests."""
    with requests.Session() as http:
        for _ in range(20):
            assert http.get(server.url + "/", timeout=5).status_code == 200
    handshakes = {r.path for r in server.requests}
    assert handshakes == {"/"}


def test_malformed_http_gets_a_400() -> None:
    """Bytes that are not HTTP are answered 400 and the connection closed."""
    with FakeServer() as server, socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"\x16\x03\x01 not http\r\n\r\n")
        assert raw.recv(1024).startswith(b"HTTP/1.1 400")


def test_recordings_preloaded_and_validated() -> None:
    """Preloaded recordings download as audio/ogg; ids with '..' or '/' are refused first."""
    with FakeServer(recordings={"rec-1": b"OggS-data"}) as server:
        reply = requests.get(server.url + "/recording/rec-1", timeout=5)
        assert reply.content == b"OggS-data"
        assert reply.headers["content-disposition"] == 'attachment; filename="rec-1.ogg"'
        bad = requests.get(server.url + "/recording/a%2Fb", timeout=5)
        assert bad.json() == {"error": "Invalid stream_id format"}
        assert requests.get(server.url + "/recording/none", timeout=5).status_code == 404


def test_speak_without_audio_answers_with_default_headers(server: FakeServer) -> None:
    """Text that pronunciations blank out gives 200, no body and the default audio headers."""
    reply = _speak(
        server,
        audio_format="wav",
        sample_rate=8000,
        pronunciations=[{"word": "Testing one two.", "pronunciation": " "}],
    )
    assert reply.status_code == 200
    assert reply.content == b""
    assert (reply.headers["content-type"], reply.headers["x-sample-rate"]) == ("audio/pcm", "24000")
