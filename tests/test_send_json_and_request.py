"""session.send_json() and client.request(): messages and endpoints we have no method for."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from sayna import (
    ErrorEvent,
    NotFoundError,
    Sayna,
    SaynaConnectionError,
    SaynaProtocolError,
    SaynaServerError,
    SaynaValidationError,
    Session,
)
from sayna.testing import FakeServer, FakeSession
from tests.support.rawserver import RawServer, read_request_head

# --- send_json ---------------------------------------------------------------------


def test_send_json_sends_the_object_as_given(pair: tuple[Session, FakeSession]) -> None:
    """A known type with a field we do not model arrives at the server with every key."""
    session, fake = pair
    session.send_json({"type": "speak", "text": "hello", "flush": True, "emotion": "warm"})
    frame = fake.wait_for_frame("speak")
    assert frame.data == {"type": "speak", "text": "hello", "flush": True, "emotion": "warm"}


def test_send_json_of_a_new_type_reaches_the_server(pair: tuple[Session, FakeSession]) -> None:
    """A type this server does not know is sent as is; its error answer arrives as an event."""
    session, fake = pair
    session.send_json({"type": "agent_handoff", "to": "billing"})
    assert fake.wait_for_frame("agent_handoff").data == {"type": "agent_handoff", "to": "billing"}
    error = session.wait_for(ErrorEvent, timeout=5)
    assert isinstance(error, ErrorEvent)
    assert "agent_handoff" in error.message


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"text": "no type"}, '"type"'),
        ({"type": ""}, '"type"'),
        ({"type": 3}, '"type"'),
        (["type", "speak"], "JSON object"),
        ({"type": "speak", "x": {1}}, "not JSON-serializable"),
        ({"type": "speak", 1: "x"}, "keys must be strings"),
    ],
)
def test_send_json_refuses_what_is_not_a_typed_object(
    pair: tuple[Session, FakeSession], message: Any, text: str
) -> None:
    """Nothing is sent for a message without a string type or with a value JSON cannot hold."""
    session, fake = pair
    with pytest.raises(SaynaValidationError, match=text):
        session.send_json(message)
    session.send_json({"type": "clear"})
    fake.wait_for_frame("clear")
    assert [f.type for f in fake.received if f.kind == "text"] == ["config", "clear"]


# --- request -----------------------------------------------------------------------


def test_request_decodes_a_json_answer(sayna_server: FakeServer) -> None:
    """GET /voices through request() is the JSON get_voices() decodes, with the key sent."""
    with Sayna(sayna_server.url, api_key="k") as client:
        voices = client.request("GET", "/voices")
        assert set(voices) == set(client.get_voices())
    first = sayna_server.requests[0]
    assert first.headers["authorization"] == "Bearer k"


def test_request_sends_json_and_params(sayna_server: FakeServer) -> None:
    """The json body and the query parameters reach the server; the answer is decoded."""
    with Sayna(sayna_server.url) as client:
        token = client.request(
            "post",
            "/livekit/token",
            json={"room_name": "r", "participant_name": "n", "participant_identity": "i"},
            params={"trace": "on", "n": 2, "fast": True},
        )
    assert token["room_name"] == "r"
    sent = sayna_server.requests[-1]
    assert sent.query == {"trace": "on", "n": "2", "fast": "true"}
    assert sent.json()["participant_identity"] == "i"


def test_request_returns_bytes_for_a_binary_answer(sayna_server: FakeServer) -> None:
    """POST /speak through request() returns the audio bytes, as speak_rest's data."""
    body = {"text": "hi there", "tts_config": {"provider": "deepgram", "model": ""}}
    with Sayna(sayna_server.url) as client:
        audio = client.request("POST", "/speak", json=body)
        assert isinstance(audio, bytes)
        assert audio == client.speak_rest("hi there", {"provider": "deepgram", "model": ""}).data


def test_request_maps_errors_as_every_method_does(sayna_server: FakeServer) -> None:
    """A 404 is NotFoundError with the endpoint, never a requests exception."""
    with Sayna(sayna_server.url) as client, pytest.raises(NotFoundError) as info:
        client.request("GET", "/no/such/endpoint")
    assert info.value.endpoint == "/no/such/endpoint"


def test_request_retries_gets_like_every_method() -> None:
    """A GET answered 503 is tried 1 + max_retries times; a POST once."""
    with FakeServer(api_keys={"k": "t"}) as server, Sayna(server.url, api_key="k") as client:
        client._sleep = lambda _delay: None
        server.auth_unavailable = "down"
        with pytest.raises(SaynaServerError):
            client.request("GET", "/livekit/rooms")
        with pytest.raises(SaynaServerError):
            client.request("POST", "/livekit/token", json={})
    assert [r.method for r in server.requests] == ["GET", "GET", "GET", "POST"]


def _endless_json(conn: socket.socket) -> None:
    # An answer that claims JSON and never stops: the 8 MiB cap must end it.
    read_request_head(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"[" + b"1," * 32767 + b"1"
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    try:
        for _ in range(1000):
            conn.sendall(frame)
    except OSError:
        pass


def test_request_caps_a_json_answer() -> None:
    """A JSON answer past 8 MiB raises SaynaProtocolError after bounded reading."""
    with RawServer(_endless_json) as raw, Sayna(raw.url, timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(SaynaProtocolError):
            client.request("GET", "/big")
        assert time.monotonic() - started < 10


def test_request_wraps_transport_failures() -> None:
    """A refused connection is SaynaConnectionError, like every method."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Sayna(f"http://127.0.0.1:{port}", max_retries=0) as client,
        pytest.raises(SaynaConnectionError),
    ):
        client.request("GET", "/")


@pytest.mark.parametrize(
    ("method", "path", "options", "field"),
    [
        ("TRACE", "/", {}, "method"),
        ("GET", "voices", {}, "path"),
        ("GET", "http://evil.example/", {}, "path"),
        ("GET", "/voices?x=1", {}, "path"),
        ("GET", "/a/../b", {}, "path"),
        ("GET", "//evil.example/x", {}, "path"),
        ("GET", "/a b", {}, "path"),
        ("POST", "/x", {"json": {"n": float("inf")}}, "json"),
        ("GET", "/x", {"params": {"a": [1]}}, "params.a"),
    ],
)
def test_request_refuses_bad_arguments_before_sending(
    sayna_server: FakeServer, method: str, path: str, options: dict[str, Any], field: str
) -> None:
    """Unknown methods, paths with a host, query or '..', and non-JSON bodies are refused."""
    with Sayna(sayna_server.url) as client, pytest.raises(SaynaValidationError) as info:
        client.request(method, path, **options)
    assert info.value.field == field
    assert sayna_server.requests == []
