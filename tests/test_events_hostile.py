"""The event decoder against anything a server can put in a frame: no exception, no lost session."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sayna import Sayna
from sayna._events import (
    _BY_TYPE,
    ErrorEvent,
    Event,
    MalformedEvent,
    STTResultEvent,
    TTSAudioEvent,
    UnknownEvent,
    decode_binary,
    decode_text,
)
from sayna.testing import FakeServer
from tests.support.speech_configs import STT, TTS

WIRE_TYPES = sorted(_BY_TYPE)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

# Field names the real events have, so that wrong shapes reach the structure hooks.
FIELDS = [
    "transcript",
    "is_final",
    "is_speech_final",
    "confidence",
    "message",
    "participant",
    "track",
    "timestamp",
    "timestamp_ms",
    "event",
    "stream_id",
    "silence_duration_ms",
    "identity",
    "room",
    "data",
]

frames = st.builds(
    lambda wire_type, fields: {"type": wire_type, **fields},
    st.sampled_from(WIRE_TYPES) | st.text(max_size=8),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
)


def deep(depth: int) -> str:
    """An stt_result whose transcript is a list nested ``depth`` levels deep."""
    return '{"type":"stt_result","transcript":' + "[" * depth + "]" * depth + "}"


def check_lenient(raw: str | bytes) -> Event:
    event = decode_text(raw)
    assert isinstance(event, Event)
    if isinstance(event, MalformedEvent):
        assert event.error
        assert event.raw in (raw, raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
    return event


def check_strict(raw: str | bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_text(raw, strict=True)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_any_object_of_any_shape_decodes_to_an_event(frame: dict[str, Any]) -> None:
    """Any JSON object with any fields of any shape gives an event, never an exception."""
    text = json.dumps(frame)
    check_lenient(text)
    check_lenient(text.encode("utf-8"))
    check_strict(text)


@settings(max_examples=200)
@given(json_values)
def test_any_json_value_decodes_to_an_event(value: Any) -> None:
    """A frame that is any JSON value (array, null, number, string) gives an event."""
    event = check_lenient(json.dumps(value))
    if not isinstance(value, dict):
        assert isinstance(event, MalformedEvent)
    check_strict(json.dumps(value))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_decode_as_text_and_as_audio(data: bytes) -> None:
    """Arbitrary bytes in a text frame (invalid UTF-8 included) and in a binary frame decode."""
    check_lenient(data)
    check_strict(data)
    assert decode_binary(data) == TTSAudioEvent(data=data)


# No deadline: the depth is measured on the whole text before parsing, about
# 50 ns a byte once a frame has more than 64 brackets (100 ms for 1.2 MB).
@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=200_000), st.sampled_from(["[]", "{}", "[{"]))
def test_any_nesting_depth_is_an_event(depth: int, brackets: str) -> None:
    """Nesting of any depth, balanced or cut short, gives an event, never RecursionError."""
    if brackets == "{}":
        inner = '{"a":' * depth + "1" + "}" * depth
        text = '{"type":"stt_result","transcript":' + inner + "}"
    elif brackets == "[{":
        text = '{"type":"stt_result","transcript":' + '[{"a":' * depth
    else:
        text = deep(depth)
    check_lenient(text)
    check_strict(text)


# 64 list levels inside the frame's object make 65: one past the bound, and
# parsed by json on every version, so only our own bound refuses it. 1,100
# parses on 3.12 and 5,000 on 3.13; 100,000 is RecursionError on all four.
@pytest.mark.parametrize("depth", [64, 1_100, 5_000, 100_000])
def test_a_deep_stt_result_is_a_malformed_event(depth: int) -> None:
    """An stt_result nested past 64 levels is a MalformedEvent saying why, on every Python."""
    text = deep(depth)
    event = decode_text(text)
    assert isinstance(event, MalformedEvent)
    assert event.error == "not a JSON text frame: JSON nested deeper than 64 levels"
    assert event.raw == text
    with pytest.raises(ValueError, match=r"^JSON nested deeper than 64 levels$"):
        decode_text(text, strict=True)


def test_a_stt_result_at_the_bound_is_decoded_as_usual() -> None:
    """An stt_result exactly 64 levels deep is not refused for its depth."""
    event = decode_text(deep(63))
    assert isinstance(event, MalformedEvent)
    assert event.wire_type == "stt_result"  # a list is not a transcript
    assert "nested" not in event.error


def test_brackets_inside_strings_do_not_nest() -> None:
    """A transcript of 1,000 brackets and escaped quotes is text, not nesting."""
    transcript = '\\\\\\"[{' * 1_000  # JSON: an escaped backslash, an escaped quote
    text = (
        '{"type":"stt_result","transcript":"' + transcript + '",'
        '"is_final":true,"is_speech_final":true,"confidence":0.5}'
    )
    event = decode_text(text, strict=True)
    assert isinstance(event, STTResultEvent)
    assert event.transcript == json.loads('"' + transcript + '"')


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"tts_playback_complete","timestamp":' + "9" * 5000 + "}",
        '{"type":"vad_event","event":"speech_start","timestamp_ms":1e999}',
        '{"type":"stt_result","transcript":"a","is_final":true,"is_speech_final":true,'
        '"confidence":-1e400}',
        '{"type":"hologram","n":' + "1" * 4000 + "}",
    ],
)
def test_huge_numbers_decode(text: str) -> None:
    """Numbers past int's digit limit or float's range give an event, not an exception."""
    assert isinstance(check_lenient(text), (MalformedEvent, UnknownEvent, Event))


def test_a_deep_frame_does_not_end_a_real_session(sayna_server: FakeServer, client: Sayna) -> None:
    """Deep stt_results through a real session arrive as MalformedEvents; the session goes on."""
    with client.connect(STT, TTS) as session:
        fake = sayna_server.wait_for_session()
        fake.send_text(deep(64))
        fake.send_text(deep(1_100))
        fake.send_text(
            '{"type":"stt_result","transcript":' + '{"a":' * 100_000 + "1" + "}" * 100_001
        )
        fake.send_event(
            {
                "type": "stt_result",
                "transcript": "still here",
                "is_final": True,
                "is_speech_final": True,
                "confidence": 0.9,
            }
        )
        fake.send_event({"type": "error", "message": "after"})
        shallowest = session.wait_for(MalformedEvent, 10)
        first = session.wait_for(MalformedEvent, 10)
        second = session.wait_for(MalformedEvent, 10)
        result = session.wait_for(STTResultEvent, 10)
        after = session.wait_for(ErrorEvent, 10)
        for refused in (shallowest, first, second):
            assert isinstance(refused, MalformedEvent)
            assert refused.wire_type is None
            assert refused.error == "not a JSON text frame: JSON nested deeper than 64 levels"
        assert isinstance(result, STTResultEvent)
        assert result.transcript == "still here"
        assert isinstance(after, ErrorEvent)
        assert session.ready
        assert session.connected


NON_JSON_CONSTANTS = ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("constant", NON_JSON_CONSTANTS)
@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"stt_result","transcript":"x","is_final":true,"is_speech_final":true,'
        '"confidence":%s}',
        '{"type":"stt_result","transcript":"x","is_final":true,"is_speech_final":true,'
        '"confidence":0.5,"extra":[%s]}',
        '{"type":"unknown_kind","value":%s}',
    ],
    ids=["confidence", "unknown-field", "unknown-type"],
)
def test_a_non_json_constant_makes_a_malformed_event(frame: str, constant: str) -> None:
    """NaN and the infinities are not JSON: the frame is malformed, wherever they sit."""
    text = frame % constant
    event = decode_text(text)
    assert isinstance(event, MalformedEvent)
    assert event.error == f"not a JSON text frame: {constant} is not JSON"
    assert event.raw == text
    with pytest.raises(ValueError, match="is not JSON"):
        decode_text(text, strict=True)


def test_a_nan_confidence_does_not_end_a_real_session(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """A NaN confidence through a real session is a MalformedEvent; the next result arrives."""
    with client.connect(STT, TTS) as session:
        fake = sayna_server.wait_for_session()
        fake.send_text(
            '{"type":"stt_result","transcript":"odd","is_final":true,'
            '"is_speech_final":true,"confidence":NaN}'
        )
        fake.send_event(
            {
                "type": "stt_result",
                "transcript": "fine",
                "is_final": True,
                "is_speech_final": True,
                "confidence": 0.9,
            }
        )
        refused = session.wait_for(MalformedEvent, 10)
        result = session.wait_for(STTResultEvent, 10)
        assert isinstance(refused, MalformedEvent)
        assert refused.error == "not a JSON text frame: NaN is not JSON"
        assert isinstance(result, STTResultEvent)
        assert result.transcript == "fine"
        assert session.connected
