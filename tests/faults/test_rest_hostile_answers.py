"""Any answer to any REST method gives a model or a SaynaError, never another exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sayna
from sayna import Sayna, SaynaError, SaynaProtocolError, TTSConfig

BASE = "http://sayna.test"
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en")

# (name, HTTP method, path, call): every REST method of the client.
CALLS: list[tuple[str, str, str, Callable[[Sayna], Any]]] = [
    ("health", "GET", "/", lambda c: c.health()),
    ("get_voices", "GET", "/voices", lambda c: c.get_voices()),
    ("speak_rest", "POST", "/speak", lambda c: c.speak_rest("hi", TTS)),
    ("get_livekit_token", "POST", "/livekit/token", lambda c: c.get_livekit_token("r", "p", "i")),
    ("get_livekit_rooms", "GET", "/livekit/rooms", lambda c: c.get_livekit_rooms()),
    ("get_livekit_room", "GET", "/livekit/rooms/r", lambda c: c.get_livekit_room("r")),
    (
        "remove_livekit_participant",
        "DELETE",
        "/livekit/participant",
        lambda c: c.remove_livekit_participant("r", "i"),
    ),
    (
        "mute_livekit_participant_track",
        "POST",
        "/livekit/participant/mute",
        lambda c: c.mute_livekit_participant_track("r", "i", "TR_1", True),
    ),
    ("get_recording", "GET", "/recording/s", lambda c: c.get_recording("s")),
    ("get_sip_hooks", "GET", "/sip/hooks", lambda c: c.get_sip_hooks()),
    (
        "set_sip_hooks",
        "POST",
        "/sip/hooks",
        lambda c: c.set_sip_hooks(
            [{"host": "h.example", "url": "https://h.example/hook", "auth_id": "a"}]
        ),
    ),
    ("delete_sip_hooks", "DELETE", "/sip/hooks", lambda c: c.delete_sip_hooks(["h.example"])),
    (
        "sip_transfer_rest",
        "POST",
        "/sip/transfer",
        lambda c: c.sip_transfer_rest("r", "i", "+15551234567"),
    ),
    (
        "sip_call",
        "POST",
        "/sip/call",
        lambda c: c.sip_call("r", "p", "i", "+15551230000", "+15551234567"),
    ),
]
CALL_IDS = [name for name, *_ in CALLS]


def _depth(n: int, leaf: str = "1") -> bytes:
    return ("[" * n + leaf + "]" * n).encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)

# Bodies no JSON encoder would produce, aimed at the decoder and the converter.
hostile_bodies = st.sampled_from(
    [
        _depth(1_100),
        _depth(100_000),
        b'{"rooms":' + _depth(2_000) + b"}",
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b"1" * 5_000,
        b'{"status": ' + b"9" * 10_000 + b"}",
        b"NaN",
        b'{"status": Infinity}',
        b"1e999",
        b"\xff\xfe\x00garbage",
        b"",
        b"[]",
        b"null",
        b"42",
        b'"OK"',
        b'{"rooms": {"a": 1}}',
        b'{"hooks": null}',
        b'{"deepgram": [null, 1, "x"]}',
        b'{"deepgram": {"id": "x"}}',
    ]
)

# Keys the real answers use, so that the fuzzer reaches inside the models too.
REAL_KEYS = [
    "status", "rooms", "name", "num_participants", "creation_time", "participants",
    "identity", "state", "tracks", "token", "room_name", "participant_identity",
    "livekit_url", "hooks", "host", "url", "muted", "track_sid", "id", "gender",
    "language", "transfer_to", "call_id", "sip_call_id", "participant_id",
]  # fmt: skip
shaped_values = st.dictionaries(st.sampled_from(REAL_KEYS), json_values, max_size=6)


def _answer(call: int, status: int, body: bytes) -> BaseException | Any:
    """Run CALLS[call] against one answer; return what it returned or raised."""
    _, verb, path, invoke = CALLS[call]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(verb, BASE + path, status=status, body=body, content_type="application/json")
        with Sayna(BASE, api_key="k", max_retries=0) as client:
            try:
                return invoke(client)
            except BaseException as exc:
                return exc


def _check(result: BaseException | Any) -> None:
    if isinstance(result, BaseException):
        assert isinstance(result, SaynaError), repr(result)


statuses = st.sampled_from([200, 201, 400, 401, 404, 409, 422, 429, 500, 503])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    call=st.integers(0, len(CALLS) - 1),
    status=statuses,
    value=json_values | shaped_values,
)
def test_any_json_answer_gives_a_model_or_a_sayna_error(call: int, status: int, value: Any) -> None:
    """Every REST method, any JSON value under any status: only SaynaError can come out."""
    _check(_answer(call, status, json.dumps(value).encode()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=st.integers(0, len(CALLS) - 1), status=statuses, body=hostile_bodies)
def test_hostile_bodies_give_only_sayna_errors(call: int, status: int, body: bytes) -> None:
    """Deep nesting, huge numbers, NaN, invalid UTF-8, wrong shapes: only SaynaError."""
    _check(_answer(call, status, body))


@pytest.mark.parametrize("status", [200, 400, 500])
@pytest.mark.parametrize("call", range(len(CALLS)), ids=CALL_IDS)
def test_deeply_nested_answer_is_a_protocol_or_http_error(call: int, status: int) -> None:
    """A 2.3 kB answer nested 1,100 deep raises a SaynaError (no RecursionError), at any status."""
    result = _answer(call, status, _depth(1_100))
    name = CALLS[call][0]
    if name in ("speak_rest", "get_recording") and status == 200:
        assert isinstance(result, sayna.AudioResult)  # audio is bytes, not parsed
    elif status == 200:
        assert isinstance(result, SaynaProtocolError), repr(result)
        assert "nested deeper" in str(result)
        assert result.endpoint == CALLS[call][2]
        assert len(result.body) <= SaynaProtocolError.BODY_EXCERPT_LIMIT
    else:
        assert isinstance(result, sayna.SaynaHttpError), repr(result)
        assert result.status_code == status


@pytest.mark.parametrize("body", [b"[]", b"null", b"3", b'"x"', b"[1, 2]", b"true"])
def test_voices_answer_that_is_not_an_object(body: bytes) -> None:
    """A /voices answer that is an array, null or a number raises SaynaProtocolError."""
    result = _answer(CALL_IDS.index("get_voices"), 200, body)
    assert isinstance(result, SaynaProtocolError), repr(result)
    assert (result.method, result.endpoint) == ("GET", "/voices")
    assert result.body == body.decode()


def test_error_message_from_a_huge_body_stays_short() -> None:
    """A 500 with a 1 MB body gives a message of bounded length; the body is kept up to its cap."""
    result = _answer(CALL_IDS.index("health"), 500, b"x" * 1_000_000)
    assert isinstance(result, sayna.SaynaServerError)
    assert len(str(result)) < 1200
    assert len(result.body) == sayna.SaynaHttpError.BODY_LIMIT
