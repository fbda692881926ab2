"""The REST client: construction, every endpoint, errors, retries, transport failures, lifecycle."""

from __future__ import annotations

import gc
import json
import logging
import pathlib
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses

import sayna
from sayna import (
    AudioResult,
    AuthenticationError,
    HealthResponse,
    LiveKitRoomDetails,
    LiveKitRoomsResponse,
    LiveKitRoomSummary,
    LiveKitTokenResponse,
    MethodNotAllowedError,
    MuteParticipantResponse,
    NotFoundError,
    RemoveParticipantResponse,
    Sayna,
    SaynaConnectionError,
    SaynaHttpError,
    SaynaNotConnectedError,
    SaynaServerError,
    SaynaTimeoutError,
    SaynaValidationError,
    SIPCallConfig,
    SIPCallResponse,
    SipHook,
    SipHooksResponse,
    SIPTransferResponse,
    TTSConfig,
    UnprocessableEntityError,
    VoiceDescriptor,
)

BASE = "http://sayna.test"
KEY = "sk_test_123"
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en")


class Sleeps(list[float]):
    """Records the retry pauses instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[Sayna]:
    with Sayna(BASE, api_key=KEY) as c:
        c._sleep = sleeps
        yield c


def sent_json(mock: responses.RequestsMock, index: int = -1) -> Any:
    body = mock.calls[index].request.body
    assert body is not None
    return json.loads(body)


# --- construction ----------------------------------------------------------------


def test_url_and_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, mock: responses.RequestsMock
) -> None:
    """Without arguments the URL and key come from SAYNA_URL and SAYNA_API_KEY."""
    monkeypatch.setenv("SAYNA_URL", "https://env.example/prefix/")
    monkeypatch.setenv("SAYNA_API_KEY", " env-key\n")
    mock.get("https://env.example/prefix/voices", json={})
    with Sayna() as c:
        assert c._rest_base == "https://env.example/prefix"
        assert c._ws_url == "wss://env.example/prefix/ws"
        assert c.get_voices() == {}
    assert mock.calls[0].request.headers["Authorization"] == "Bearer env-key"


def test_explicit_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit url and api_key win over the environment variables."""
    monkeypatch.setenv("SAYNA_URL", "https://env.example")
    monkeypatch.setenv("SAYNA_API_KEY", "env-key")
    with Sayna("wss://given.example/ws", api_key="given") as c:
        assert c.base_url == "https://given.example"
        assert c._api_key == "given"


def test_missing_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No url and no SAYNA_URL raises SaynaValidationError naming both."""
    monkeypatch.delenv("SAYNA_URL", raising=False)
    with pytest.raises(SaynaValidationError, match="SAYNA_URL") as info:
        Sayna()
    assert info.value.field == "url"


def test_blank_env_key_means_no_key(
    monkeypatch: pytest.MonkeyPatch, mock: responses.RequestsMock
) -> None:
    """An empty SAYNA_API_KEY sends no Authorization header at all."""
    monkeypatch.setenv("SAYNA_API_KEY", "  ")
    mock.get(f"{BASE}/", json={"status": "OK"})
    with Sayna(BASE) as c:
        assert c._api_key is None
        c.health()
    assert "Authorization" not in mock.calls[0].request.headers


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"api_key": ""}, "api_key"),
        ({"api_key": 123}, "api_key"),
        ({"api_key": "sk_ünïcode_secret"}, "api_key"),
        ({"api_key": "sk_line\nbreak_secret"}, "api_key"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"ping_interval": 0}, "ping_interval"),
        ({"ping_timeout": float("nan")}, "ping_timeout"),
        ({"user_agent": " "}, "user_agent"),
        ({"session": object()}, "session"),
        ({"url": "ftp://x"}, "url"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], field: str) -> None:
    """Impossible constructor arguments are refused, and a key never appears in the message."""
    arguments: dict[str, Any] = {"url": BASE, **kwargs}
    with pytest.raises(SaynaValidationError) as info:
        Sayna(**arguments)
    assert info.value.field == field
    assert "secret" not in str(info.value)


def test_private_attributes_other_modules_use() -> None:
    """The attributes the realtime session relies on exist with the documented types."""
    with Sayna("https://h.example/p", api_key=KEY, timeout=5, ping_interval=None) as c:
        assert c._rest_base == "https://h.example/p"
        assert c._ws_url == "wss://h.example/p/ws"
        assert c._api_key == KEY
        assert isinstance(c._http, requests.Session)
        assert c._timeout == 5.0
        assert c._ping_interval is None
        assert c._ping_timeout == 10.0
        assert c._closed is False
        assert len(c._sessions) == 0
    with Sayna(BASE) as c:
        assert c._ping_interval == 20.0


def test_repr_never_shows_the_key() -> None:
    """repr names the server and state, says whether a key is set, and never shows it."""
    c = Sayna(BASE, api_key=KEY)
    assert repr(c) == f"<Sayna {BASE} (api key set, open)>"
    c.close()
    assert repr(c) == f"<Sayna {BASE} (api key set, closed)>"
    assert KEY not in repr(c)
    with Sayna(BASE, api_key=None) as anonymous:
        assert "no api key" in repr(anonymous)


# --- headers and request shape ----------------------------------------------------


def test_headers_and_default_timeout(client: Sayna, mock: responses.RequestsMock) -> None:
    """Every request carries the bearer key, our User-Agent and the default timeout."""
    mock.get(f"{BASE}/", json={"status": "OK"})
    assert client.health() == HealthResponse(status="OK")
    request = mock.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"] == f"sayna-python/{sayna.__version__}"
    assert request.req_kwargs["timeout"] == 30.0


def test_a_netrc_entry_does_not_replace_the_bearer_key(
    client: Sayna,
    mock: responses.RequestsMock,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ~/.netrc entry for the server's host leaves our Bearer header in place."""
    netrc = tmp_path / "netrc"
    host = urllib.parse.urlsplit(BASE).hostname
    netrc.write_text(f"machine {host} login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    mock.get(f"{BASE}/", json={"status": "OK"})
    client.health()
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_custom_user_agent_and_timeout(mock: responses.RequestsMock) -> None:
    """user_agent is prefixed to ours and timeout= is used for every request."""
    mock.get(f"{BASE}/", json={"status": "OK"})
    with Sayna(BASE, user_agent="myapp/2.0", timeout=2.5) as c:
        c.health()
    request = mock.calls[0].request
    assert request.headers["User-Agent"] == f"myapp/2.0 sayna-python/{sayna.__version__}"
    assert request.req_kwargs["timeout"] == 2.5


def test_injected_session_is_used_and_left_open(mock: responses.RequestsMock) -> None:
    """An injected requests.Session carries the calls, keeps its headers and is not closed."""

    class Tracking(requests.Session):
        closed_count = 0

        def close(self) -> None:
            self.closed_count += 1
            super().close()

    own = Tracking()
    own.headers["X-Trace"] = "abc"
    mock.get(f"{BASE}/", json={"status": "OK"})
    with Sayna(BASE, api_key=KEY, session=own) as c:
        assert c._http is own
        c.health()
    assert mock.calls[0].request.headers["X-Trace"] == "abc"
    assert "Authorization" not in own.headers
    assert own.closed_count == 0
    own.close()


# --- lifecycle --------------------------------------------------------------------


def test_context_manager_closes_and_refuses_reuse(mock: responses.RequestsMock) -> None:
    """Leaving the with block closes the client; every later call raises SaynaNotConnectedError."""
    with Sayna(BASE) as c:
        pass
    assert c.closed
    assert c._closed
    with pytest.raises(SaynaNotConnectedError):
        c.health()
    with pytest.raises(SaynaNotConnectedError):
        c.speak_rest("hi", TTS)
    with pytest.raises(SaynaNotConnectedError), c:
        pass
    assert len(mock.calls) == 0


def test_close_is_idempotent_and_closes_owned_pool() -> None:
    """close() closes our own HTTP pool exactly once, however often it is called."""
    c = Sayna(BASE)
    calls: list[int] = []
    original = c._http.close
    c._http.close = lambda: (calls.append(1), original())[1]  # type: ignore[method-assign]
    c.close()
    c.close()
    assert calls == [1]


def test_close_closes_registered_sessions_first(caplog: pytest.LogCaptureFixture) -> None:
    """close() calls close() on every registered realtime session, even if one fails."""
    order: list[str] = []

    class FakeSession:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        def close(self) -> None:
            order.append(self.name)
            if self.fail:
                raise RuntimeError("boom")

    c = Sayna(BASE)
    first, second = FakeSession("a", fail=True), FakeSession("b")
    c._sessions.add(first)
    c._sessions.add(second)
    original = c._http.close
    c._http.close = lambda: (order.append("http"), original())[1]  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="sayna"):
        c.close()
    assert sorted(order[:2]) == ["a", "b"]
    assert order[2] == "http"
    assert "closing a realtime session failed" in caplog.text


def _abandon(**kwargs: Any) -> None:
    Sayna(BASE, **kwargs)  # dropped at once, never closed
    gc.collect()


def test_unclosed_client_warns() -> None:
    """A client garbage-collected without close() emits a ResourceWarning."""
    with pytest.warns(ResourceWarning, match="unclosed"):
        _abandon()


def test_unclosed_client_with_injected_session_is_silent(recwarn: pytest.WarningsRecorder) -> None:
    """With an injected session the pool is the caller's, so no warning is due."""
    own = requests.Session()
    _abandon(session=own)
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]
    own.close()


# --- endpoints --------------------------------------------------------------------


def test_health(client: Sayna, mock: responses.RequestsMock) -> None:
    """health() GETs / and returns HealthResponse."""
    mock.get(f"{BASE}/", json={"status": "OK"})
    assert client.health().status == "OK"


def test_get_voices(client: Sayna, mock: responses.RequestsMock) -> None:
    """get_voices() returns a dict of provider -> list of VoiceDescriptor."""
    voice = {
        "id": "aura-asteria-en",
        "sample": "",
        "name": "Asteria",
        "accent": "American",
        "gender": "Female",
        "language": "English",
    }
    mock.get(f"{BASE}/voices", json={"deepgram": [voice]})
    voices = client.get_voices()
    assert voices == {"deepgram": [VoiceDescriptor(**voice)]}
    assert isinstance(voices["deepgram"], list)


def test_speak_rest(client: Sayna, mock: responses.RequestsMock) -> None:
    """speak_rest() posts {text, tts_config} as JSON and returns the audio with its headers."""
    mock.post(
        f"{BASE}/speak",
        body=b"\x00\x01" * 8,
        headers={"x-audio-format": "linear16", "x-sample-rate": "24000"},
        content_type="audio/pcm",
    )
    result = client.speak_rest("Hello, world!", TTS)
    assert isinstance(result, AudioResult)
    audio, headers = result
    assert audio == b"\x00\x01" * 8
    assert headers["Content-Type"] == "audio/pcm"
    assert result.sample_rate == 24000
    assert sent_json(mock) == {
        "text": "Hello, world!",
        "tts_config": {"provider": "deepgram", "model": "aura-asteria-en"},
    }
    assert mock.calls[0].request.headers["Content-Type"] == "application/json"


def test_speak_rest_accepts_a_dict_config(client: Sayna, mock: responses.RequestsMock) -> None:
    """A dict with TTSConfig's field names works like the model itself."""
    mock.post(f"{BASE}/speak", body=b"", content_type="audio/pcm")
    client.speak_rest("Hi", {"provider": "elevenlabs", "model": "m", "voice_id": "v"})
    assert sent_json(mock)["tts_config"] == {
        "provider": "elevenlabs",
        "model": "m",
        "voice_id": "v",
    }


def test_get_livekit_token(client: Sayna, mock: responses.RequestsMock) -> None:
    """get_livekit_token() posts the three names and returns the token answer."""
    answer = {
        "token": "jwt",
        "room_name": "room",
        "participant_identity": "id-1",
        "livekit_url": "wss://lk.example",
    }
    mock.post(f"{BASE}/livekit/token", json=answer)
    assert client.get_livekit_token("room", "Alice", "id-1") == LiveKitTokenResponse(**answer)
    assert sent_json(mock) == {
        "room_name": "room",
        "participant_name": "Alice",
        "participant_identity": "id-1",
    }


def test_get_livekit_rooms(client: Sayna, mock: responses.RequestsMock) -> None:
    """get_livekit_rooms() returns the rooms as LiveKitRoomSummary values."""
    mock.get(
        f"{BASE}/livekit/rooms",
        json={"rooms": [{"name": "a", "num_participants": 2, "creation_time": 1}]},
    )
    assert client.get_livekit_rooms() == LiveKitRoomsResponse(
        rooms=(LiveKitRoomSummary(name="a", num_participants=2, creation_time=1),)
    )


ROOM_ANSWER = {
    "sid": "RM_1",
    "name": "a b/c?d#e",
    "num_participants": 0,
    "max_participants": 0,
    "creation_time": 1,
    "metadata": "",
    "active_recording": False,
    "participants": [],
}


def test_get_livekit_room_percent_encodes(client: Sayna, mock: responses.RequestsMock) -> None:
    """The room name is one percent-encoded path segment: '/', '?', '#' and spaces stay inside."""
    mock.get(f"{BASE}/livekit/rooms/a%20b%2Fc%3Fd%23e", json=ROOM_ANSWER)
    room = client.get_livekit_room("a b/c?d#e")
    assert isinstance(room, LiveKitRoomDetails)
    assert room.name == "a b/c?d#e"
    assert mock.calls[0].request.path_url == "/livekit/rooms/a%20b%2Fc%3Fd%23e"


def test_remove_livekit_participant(client: Sayna, mock: responses.RequestsMock) -> None:
    """remove_livekit_participant() sends DELETE with a JSON body."""
    answer = {"status": "removed", "room_name": "r", "participant_identity": "p"}
    mock.delete(f"{BASE}/livekit/participant", json=answer)
    assert client.remove_livekit_participant("r", "p") == RemoveParticipantResponse(**answer)
    assert mock.calls[0].request.method == "DELETE"
    assert sent_json(mock) == {"room_name": "r", "participant_identity": "p"}


@pytest.mark.parametrize("muted", [True, False])
def test_mute_livekit_participant_track(
    client: Sayna, mock: responses.RequestsMock, muted: bool
) -> None:
    """mute_livekit_participant_track() sends muted as a JSON boolean."""
    answer = {"room_name": "r", "participant_identity": "p", "track_sid": "TR_1", "muted": muted}
    mock.post(f"{BASE}/livekit/participant/mute", json=answer)
    result = client.mute_livekit_participant_track("r", "p", "TR_1", muted)
    assert result == MuteParticipantResponse(**answer)
    assert sent_json(mock) == answer


def test_get_recording(client: Sayna, mock: responses.RequestsMock) -> None:
    """get_recording() returns the OGG bytes and headers; the id is percent-encoded."""
    mock.get(
        f"{BASE}/recording/call%201",
        body=b"OggS\x00",
        content_type="audio/ogg",
        headers={"Content-Disposition": 'attachment; filename="call 1.ogg"'},
    )
    audio, headers = client.get_recording("call 1")
    assert audio == b"OggS\x00"
    assert headers["content-disposition"] == 'attachment; filename="call 1.ogg"'


HOOK = {"host": "a.example", "url": "https://hooks.example/a", "auth_id": "tenant-a"}


def test_get_sip_hooks(client: Sayna, mock: responses.RequestsMock) -> None:
    """get_sip_hooks() returns the table as SipHook values."""
    mock.get(f"{BASE}/sip/hooks", json={"hooks": [HOOK]})
    assert client.get_sip_hooks() == SipHooksResponse(hooks=(SipHook(**HOOK),))


def test_set_sip_hooks_accepts_models_and_dicts(
    client: Sayna, mock: responses.RequestsMock
) -> None:
    """set_sip_hooks() posts {hooks: [...]} from SipHook values or plain dicts."""
    other = {"host": "b.example", "url": "https://hooks.example/b", "auth_id": ""}
    mock.post(f"{BASE}/sip/hooks", json={"hooks": [HOOK, other]})
    result = client.set_sip_hooks([SipHook(**HOOK), other])
    assert len(result.hooks) == 2
    assert sent_json(mock) == {"hooks": [HOOK, other]}


def test_delete_sip_hooks(client: Sayna, mock: responses.RequestsMock) -> None:
    """delete_sip_hooks() sends DELETE with {hosts: [...]} and returns the remaining table."""
    mock.delete(f"{BASE}/sip/hooks", json={"hooks": []})
    assert client.delete_sip_hooks(("a.example",)) == SipHooksResponse(hooks=())
    assert mock.calls[0].request.method == "DELETE"
    assert sent_json(mock) == {"hosts": ["a.example"]}


def test_sip_transfer_rest(client: Sayna, mock: responses.RequestsMock) -> None:
    """sip_transfer_rest() sends the trimmed number and returns the transfer status."""
    answer = {
        "status": "completed",
        "room_name": "r",
        "participant_identity": "sip_1",
        "transfer_to": "tel:+15550001111",
    }
    mock.post(f"{BASE}/sip/transfer", json=answer)
    assert client.sip_transfer_rest("r", "sip_1", " +15550001111 ") == SIPTransferResponse(**answer)
    assert sent_json(mock)["transfer_to"] == "+15550001111"


CALL_ANSWER = {
    "status": "initiated",
    "room_name": "r",
    "participant_identity": "pstn",
    "participant_id": "PA_1",
    "sip_call_id": "SCL_1",
}


@pytest.mark.parametrize(
    ("sip", "expected"),
    [
        (None, None),
        ({}, None),
        (
            {"outbound_address": "sip.x:5060", "auth_username": "u", "auth_password": "p"},
            {"outbound_address": "sip.x:5060", "auth_username": "u", "auth_password": "p"},
        ),
        ({"outbound_address": "sip.x", "auth_password": None}, {"outbound_address": "sip.x"}),
        (SIPCallConfig(auth_username="u"), {"auth_username": "u"}),
    ],
)
def test_sip_call(
    client: Sayna, mock: responses.RequestsMock, sip: Any, expected: dict[str, str] | None
) -> None:
    """sip_call() sends the five fields and only the sip overrides that are set."""
    mock.post(f"{BASE}/sip/call", json=CALL_ANSWER)
    result = client.sip_call("r", "Customer", "pstn", "+15105550123", "07123456789", sip=sip)
    assert result == SIPCallResponse(**CALL_ANSWER)
    body = sent_json(mock)
    assert body.pop("sip", None) == expected
    assert body == {
        "room_name": "r",
        "participant_name": "Customer",
        "participant_identity": "pstn",
        "from_phone_number": "+15105550123",
        "to_phone_number": "07123456789",
    }


# --- call-site validation ------------------------------------------------------------


def _call(name: str, *args: Any, **kwargs: Any) -> Callable[[Sayna], Any]:
    return lambda c: getattr(c, name)(*args, **kwargs)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (_call("speak_rest", "  ", TTS), "text"),
        (_call("speak_rest", None, TTS), "text"),
        (_call("speak_rest", "hi", "deepgram"), "tts_config"),
        (_call("speak_rest", "hi", {"provider": "deepgram"}), "tts_config.model"),
        (_call("speak_rest", "hi", {"provider": "", "model": "m"}), "provider"),
        (_call("get_livekit_token", "", "n", "i"), "room_name"),
        (_call("get_livekit_token", "r", " ", "i"), "participant_name"),
        (_call("get_livekit_token", "r", "n", ""), "participant_identity"),
        (_call("get_livekit_room", " "), "room_name"),
        (_call("get_livekit_room", 7), "room_name"),
        (_call("remove_livekit_participant", "r", ""), "participant_identity"),
        (_call("mute_livekit_participant_track", "r", "p", "", True), "track_sid"),
        (_call("mute_livekit_participant_track", "r", "p", "t", 1), "muted"),
        (_call("mute_livekit_participant_track", "r", "p", "t", "false"), "muted"),
        (_call("mute_livekit_participant_track", "r", "p", "t", None), "muted"),
        (_call("get_recording", ""), "stream_id"),
        (_call("get_recording", "a/b"), "stream_id"),
        (_call("get_recording", "a..b"), "stream_id"),
        (_call("set_sip_hooks", []), "hooks"),
        (_call("set_sip_hooks", HOOK), "hooks"),
        (_call("set_sip_hooks", [{"host": "h", "url": "u"}]), "hooks[0].auth_id"),
        (_call("set_sip_hooks", [{**HOOK, "secret": "x"}]), "hooks[0].secret"),
        (_call("set_sip_hooks", [HOOK, {**HOOK, "host": " "}]), "hooks[1].host"),
        (_call("set_sip_hooks", [{**HOOK, "url": ""}]), "hooks[0].url"),
        (_call("set_sip_hooks", ["a.example"]), "hooks[0]"),
        (_call("delete_sip_hooks", []), "hosts"),
        (_call("delete_sip_hooks", "a.example"), "hosts"),
        (_call("delete_sip_hooks", ["a", ""]), "hosts[1]"),
        (_call("sip_transfer_rest", " ", "p", "+1555"), "room_name"),
        (_call("sip_transfer_rest", "r", "", "+1555"), "participant_identity"),
        (_call("sip_transfer_rest", "r", "p", "+1-555"), "transfer_to"),
        (_call("sip_transfer_rest", "r", "p", ""), "transfer_to"),
        (_call("sip_call", "", "n", "i", "+1", "+2"), "room_name"),
        (_call("sip_call", "r", "", "i", "+1", "+2"), "participant_name"),
        (_call("sip_call", "r", "n", "", "+1", "+2"), "participant_identity"),
        (_call("sip_call", "r", "n", "i", "bad", "+"), "to_phone_number"),
        (_call("sip_call", "r", "n", "i", "(555) 123", "+2"), "from_phone_number"),
        (_call("sip_call", "r", "n", "i", "+1", "+2", sip="trunk"), "sip"),
        (_call("sip_call", "r", "n", "i", "+1", "+2", sip={"password": "x"}), "sip.password"),
        (_call("sip_call", "r", "n", "i", "+1", "+2", sip={"auth_password": 5}), "auth_password"),
    ],
)
def test_bad_input_is_refused_before_sending(
    client: Sayna, mock: responses.RequestsMock, call: Callable[[Sayna], Any], field: str
) -> None:
    """Blank names, wrong types, bad phone numbers and bad hooks raise before any request."""
    with pytest.raises(SaynaValidationError) as info:
        call(client)
    assert info.value.field == field
    assert not isinstance(info.value, SaynaHttpError)
    assert len(mock.calls) == 0


def test_validation_messages_do_not_echo_secrets(client: Sayna) -> None:
    """A credential passed in the wrong place is named by key, never shown by value."""
    secret = "el-request-key-0123456789"
    with pytest.raises(SaynaValidationError) as info:
        client.speak_rest("hi", {"provider": "elevenlabs", "model": "m", "api_key": secret})
    assert "api_key" in str(info.value)
    assert secret not in str(info.value)
    with pytest.raises(SaynaValidationError) as info:
        client.sip_call("r", "n", "i", "+1", "+2", sip={"auth_password": 12345678901})
    assert "12345678901" not in str(info.value)


# --- error answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kwargs", "cls", "server_message", "code"),
    [
        (
            401,
            {"json": {"error": "unauthorized", "message": "Unauthorized: Invalid API secret"}},
            AuthenticationError,
            "Unauthorized: Invalid API secret",
            "unauthorized",
        ),
        (404, {"json": {"error": "Room 'x' not found"}}, NotFoundError, "Room 'x' not found", None),
        (
            404,
            {"json": {"error": "Participant 'p' not found", "code": "PARTICIPANT_NOT_FOUND"}},
            NotFoundError,
            "Participant 'p' not found",
            "PARTICIPANT_NOT_FOUND",
        ),
        (
            422,
            {
                "body": "Failed to deserialize the JSON body into the target type: x",
                "content_type": "text/plain; charset=utf-8",
            },
            UnprocessableEntityError,
            "Failed to deserialize the JSON body into the target type: x",
            None,
        ),
        (405, {"body": b""}, MethodNotAllowedError, "", None),
        (
            500,
            {"json": {"error": "LiveKit service not configured"}},
            SaynaServerError,
            "LiveKit service not configured",
            None,
        ),
    ],
)
def test_error_answers_map_to_exceptions(
    client: Sayna,
    mock: responses.RequestsMock,
    status: int,
    kwargs: dict[str, Any],
    cls: type[SaynaHttpError],
    server_message: str,
    code: str | None,
) -> None:
    """Each error body shape (auth, error, error+code, plain text, empty) becomes its class."""
    mock.post(f"{BASE}/livekit/token", status=status, **kwargs)
    with pytest.raises(cls) as info:
        client.get_livekit_token("r", "n", "i")
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.server_message == server_message
    assert exc.code == code
    assert exc.method == "POST"
    assert exc.endpoint == "/livekit/token"
    assert KEY not in str(exc)


def test_error_endpoint_is_the_encoded_path(client: Sayna, mock: responses.RequestsMock) -> None:
    """The endpoint in an error is the request path, percent-encoded, without a query."""
    mock.get(f"{BASE}/recording/a%20b", status=404, json={"error": "Recording not found: a b"})
    with pytest.raises(NotFoundError) as info:
        client.get_recording("a b")
    assert info.value.endpoint == "/recording/a%20b"
    assert info.value.method == "GET"


def test_answer_that_is_not_json(client: Sayna, mock: responses.RequestsMock) -> None:
    """A 200 whose body is not JSON raises SaynaError, not a decoder exception."""
    mock.get(f"{BASE}/", body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(sayna.SaynaProtocolError, match="not valid JSON") as info:
        client.health()
    assert isinstance(info.value.__cause__, ValueError)
    assert (info.value.method, info.value.endpoint) == ("GET", "/")
    assert info.value.body == "<html>proxy</html>"


def test_answer_of_the_wrong_shape(client: Sayna, mock: responses.RequestsMock) -> None:
    """A 200 whose JSON does not fit the model raises SaynaError naming the bad field."""
    mock.get(
        f"{BASE}/livekit/rooms",
        json={"rooms": [{"name": "a", "num_participants": "2", "creation_time": 1}]},
    )
    with pytest.raises(sayna.SaynaProtocolError, match=r"rooms\[0\]\.num_participants") as info:
        client.get_livekit_rooms()
    assert (info.value.method, info.value.endpoint) == ("GET", "/livekit/rooms")
    assert '"num_participants": "2"' in info.value.body


def test_unknown_answer_keys_are_tolerated(client: Sayna, mock: responses.RequestsMock) -> None:
    """Extra keys a newer server adds do not break decoding in production."""
    mock.get(f"{BASE}/", json={"status": "OK", "version": "9.9"})
    assert client.health() == HealthResponse(status="OK")


# --- retries --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
def test_get_retried_on_gateway_errors(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps, status: int
) -> None:
    """A GET answered 502/503/504 is retried with exponential backoff until it succeeds."""
    mock.get(f"{BASE}/", status=status, json={"error": "busy"})
    mock.get(f"{BASE}/", status=status, json={"error": "busy"})
    mock.get(f"{BASE}/", json={"status": "OK"})
    assert client.health().status == "OK"
    assert len(mock.calls) == 3
    assert sleeps == [0.25, 0.5]


def test_get_retries_are_bounded(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """After max_retries retries the last error answer is raised."""
    mock.get(
        f"{BASE}/voices", status=503, json={"error": "auth_service_unavailable", "message": "down"}
    )
    with pytest.raises(SaynaServerError) as info:
        client.get_voices()
    assert info.value.status_code == 503
    assert len(mock.calls) == 3
    assert len(sleeps) == 2


def test_backoff_is_capped(mock: responses.RequestsMock, sleeps: Sleeps) -> None:
    """The pause between retries doubles but never exceeds the cap."""
    mock.get(f"{BASE}/", status=503)
    with Sayna(BASE, max_retries=8) as c:
        c._sleep = sleeps
        with pytest.raises(SaynaServerError):
            c.health()
    assert sleeps == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert len(mock.calls) == 9


def test_no_retry_when_disabled(mock: responses.RequestsMock, sleeps: Sleeps) -> None:
    """max_retries=0 sends a GET exactly once."""
    mock.get(f"{BASE}/", status=503)
    with Sayna(BASE, max_retries=0) as c:
        c._sleep = sleeps
        with pytest.raises(SaynaServerError):
            c.health()
    assert len(mock.calls) == 1
    assert sleeps == []


def test_no_retry_on_500(client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps) -> None:
    """A 500 is the server's own failure, not a gateway hiccup: it is not retried."""
    mock.get(f"{BASE}/livekit/rooms", status=500, json={"error": "LiveKit service not configured"})
    with pytest.raises(SaynaServerError):
        client.get_livekit_rooms()
    assert len(mock.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "call",
    [
        _call("speak_rest", "hi", TTS),
        _call("get_livekit_token", "r", "n", "i"),
        _call("sip_call", "r", "n", "i", "+1", "+2"),
        _call("remove_livekit_participant", "r", "p"),
        _call("delete_sip_hooks", ["a"]),
    ],
)
def test_no_retry_for_non_get(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps, call: Callable[[Sayna], Any]
) -> None:
    """POST and DELETE are never retried, not even on 503 or a connection error."""
    for method in ("POST", "DELETE"):
        mock.add(method, re.compile(f"{BASE}/.*"), status=503)
    with pytest.raises(SaynaServerError):
        call(client)
    assert len(mock.calls) == 1
    mock.reset()
    for method in ("POST", "DELETE"):
        mock.add(
            method,
            re.compile(f"{BASE}/.*"),
            body=requests.exceptions.ConnectionError("reset"),
        )
    with pytest.raises(SaynaConnectionError):
        call(client)
    assert len(mock.calls) == 1
    assert sleeps == []


# --- transport failures ------------------------------------------------------------------


def test_connection_error_retried_then_wrapped(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """A GET whose connection fails is retried, then raises SaynaConnectionError from the cause."""
    mock.get(f"{BASE}/", body=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(SaynaConnectionError, match="Connection refused") as info:
        client.health()
    assert not isinstance(info.value, SaynaTimeoutError)
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
    assert len(mock.calls) == 3
    assert sleeps == [0.25, 0.5]


def test_connection_error_then_success(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """A GET that fails to connect once and then succeeds returns normally."""
    mock.get(f"{BASE}/", body=requests.exceptions.ConnectionError("reset"))
    mock.get(f"{BASE}/", json={"status": "OK"})
    assert client.health().status == "OK"
    assert sleeps == [0.25]


def test_read_timeout_not_retried(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """A read timeout raises SaynaTimeoutError (also TimeoutError) at once, without retry."""
    mock.get(f"{BASE}/voices", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(SaynaTimeoutError, match="timed out after 30s") as info:
        client.get_voices()
    assert isinstance(info.value, TimeoutError)
    assert not isinstance(info.value, SaynaConnectionError)
    assert isinstance(info.value.__cause__, requests.exceptions.ReadTimeout)
    assert len(mock.calls) == 1
    assert sleeps == []


def test_connect_timeout_retried(
    client: Sayna, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """A connect timeout on a GET is retried and ends as SaynaTimeoutError."""
    mock.get(f"{BASE}/", body=requests.exceptions.ConnectTimeout("no answer"))
    with pytest.raises(SaynaTimeoutError, match="connecting"):
        client.health()
    assert len(mock.calls) == 3


@pytest.mark.parametrize(
    ("exc", "match"),
    [
        (requests.exceptions.SSLError("certificate verify failed"), "TLS failure"),
        (requests.exceptions.ChunkedEncodingError("broken"), "request failed"),
        (requests.exceptions.InvalidHeader("bad"), "request failed"),
    ],
)
def test_other_transport_errors_wrapped_without_retry(
    client: Sayna, mock: responses.RequestsMock, exc: Exception, match: str
) -> None:
    """TLS and other requests failures become SaynaConnectionError and are not retried."""
    mock.get(f"{BASE}/", body=exc)
    with pytest.raises(SaynaConnectionError, match=match) as info:
        client.health()
    assert info.value.__cause__ is exc
    assert len(mock.calls) == 1


def test_refused_connection_on_a_real_socket(sleeps: Sleeps) -> None:
    """A refused loopback connection surfaces as SaynaConnectionError, not a requests error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sayna(f"http://127.0.0.1:{port}", api_key=KEY, timeout=2) as c:
        c._sleep = sleeps
        with pytest.raises(SaynaConnectionError) as info:
            c.health()
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
    assert KEY not in str(info.value)
    assert len(sleeps) == 2


def test_url_prefix_is_kept(mock: responses.RequestsMock) -> None:
    """A path prefix in the URL (reverse proxy) prefixes every endpoint."""
    mock.get("https://proxy.example/sayna/sip/hooks", json={"hooks": []})
    with Sayna("https://proxy.example/sayna/") as c:
        assert c.get_sip_hooks().hooks == ()
