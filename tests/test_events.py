"""Session events: one class per server message, lenient and strict decoding."""

from __future__ import annotations

import json
import pickle

import attrs
import pytest

from sayna._errors import SaynaConnectionClosedError
from sayna._events import (
    CallbackErrorEvent,
    CloseEvent,
    DataPacket,
    ErrorEvent,
    Event,
    EventsDiscardedEvent,
    MalformedEvent,
    MessageEvent,
    ParticipantConnectedEvent,
    ParticipantDisconnectedEvent,
    ReadyEvent,
    SessionParticipant,
    SIPTransferErrorEvent,
    STTResultEvent,
    SubscribedTrack,
    TrackSubscribedEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
    UnknownEvent,
    VADEvent,
    decode_binary,
    decode_text,
    event_class,
)
from tests.support.shared_protocol import load_vectors

ALL_CLASSES = [
    ReadyEvent,
    STTResultEvent,
    MessageEvent,
    ParticipantConnectedEvent,
    ParticipantDisconnectedEvent,
    TrackSubscribedEvent,
    TTSPlaybackCompleteEvent,
    VADEvent,
    ErrorEvent,
    SIPTransferErrorEvent,
    TTSAudioEvent,
    MalformedEvent,
    CloseEvent,
    CallbackErrorEvent,
    EventsDiscardedEvent,
]


def frame(**fields: object) -> str:
    return json.dumps(fields)


def test_ready_decodes_with_optional_livekit_fields() -> None:
    """A ready frame becomes a ReadyEvent; absent LiveKit fields are None."""
    event = decode_text(frame(type="ready", stream_id="s-1", livekit_url="wss://lk.test"))
    assert event == ReadyEvent(stream_id="s-1", livekit_url="wss://lk.test")
    assert event.type == "ready"
    assert isinstance(event, ReadyEvent)
    assert event.livekit_room_name is None


def test_stt_result_decodes_and_integer_confidence_becomes_float() -> None:
    """An stt_result keeps its flags; a JSON integer confidence is accepted as float."""
    event = decode_text(
        frame(type="stt_result", transcript="ok", is_final=True, is_speech_final=True, confidence=1)
    )
    assert event == STTResultEvent(
        transcript="ok", is_final=True, is_speech_final=True, confidence=1.0
    )
    assert isinstance(event, STTResultEvent)
    assert isinstance(event.confidence, float)


def test_message_with_base64_data_becomes_bytes() -> None:
    """A data packet's base64 ``data`` is decoded to bytes; ``message`` stays None."""
    packet = {"data": "AAEC", "identity": "p", "topic": "t", "room": "livekit", "timestamp": 7}
    event = decode_text(frame(type="message", message=packet))
    assert event == MessageEvent(
        message=DataPacket(identity="p", topic="t", room="livekit", timestamp=7, data=b"\0\1\2")
    )


def test_participant_and_track_events_nest_their_models() -> None:
    """Participant and track frames nest a SessionParticipant / SubscribedTrack."""
    who = {"identity": "a", "room": "r", "timestamp": 1}
    joined = decode_text(frame(type="participant_connected", participant=who))
    left = decode_text(frame(type="participant_disconnected", participant={**who, "name": "A"}))
    track = decode_text(
        frame(
            type="track_subscribed",
            track={**who, "track_kind": "audio", "track_sid": "TR_1"},
        )
    )
    assert joined == ParticipantConnectedEvent(
        participant=SessionParticipant(identity="a", room="r", timestamp=1)
    )
    assert left == ParticipantDisconnectedEvent(
        participant=SessionParticipant(identity="a", room="r", timestamp=1, name="A")
    )
    assert track == TrackSubscribedEvent(
        track=SubscribedTrack(
            identity="a", room="r", timestamp=1, track_kind="audio", track_sid="TR_1"
        )
    )


def test_small_server_messages_decode() -> None:
    """Playback-complete, VAD, error and SIP-transfer-error frames decode to their classes."""
    assert decode_text(frame(type="tts_playback_complete", timestamp=5)) == (
        TTSPlaybackCompleteEvent(timestamp=5)
    )
    assert decode_text(frame(type="vad_event", event="turn_end", timestamp_ms=3)) == VADEvent(
        event="turn_end", timestamp_ms=3
    )
    assert decode_text(frame(type="error", message="bad")) == ErrorEvent(message="bad")
    assert decode_text(frame(type="sip_transfer_error", message="no")) == (
        SIPTransferErrorEvent(message="no")
    )


def test_bytes_frames_are_decoded_as_utf8() -> None:
    """A text frame handed over as UTF-8 bytes decodes like the same str."""
    assert decode_text(frame(type="error", message="é").encode()) == ErrorEvent(message="é")


def test_unknown_type_keeps_the_raw_payload() -> None:
    """A type the client does not know becomes an UnknownEvent with the whole payload."""
    event = decode_text(frame(type="brand_new", value=[1, 2]))
    assert isinstance(event, UnknownEvent)
    assert event.type == "brand_new"
    assert event.payload == {"type": "brand_new", "value": [1, 2]}


@pytest.mark.parametrize(
    ("raw", "needle", "wire_type"),
    [
        ("Hello there", "not a JSON text frame", None),
        ("[1, 2]", "expected a JSON object", None),
        ('{"no_type": 1}', "no string 'type'", None),
        ('{"type": 3}', "no string 'type'", None),
        ('{"type": "error"}', "required field missing @ $.message", "error"),
        (
            '{"type": "tts_playback_complete", "timestamp": "x"}',
            "$.timestamp",
            "tts_playback_complete",
        ),
        (
            '{"type": "stt_result", "transcript": "a", "is_final": "yes",'
            ' "is_speech_final": false, "confidence": 1}',
            "$.is_final",
            "stt_result",
        ),
    ],
)
def test_undecodable_frames_become_malformed_events(
    raw: str, needle: str, wire_type: str | None
) -> None:
    """A frame that does not decode is kept raw with the reason and the type it claimed."""
    event = decode_text(raw)
    assert isinstance(event, MalformedEvent)
    assert event.raw == raw
    assert needle in event.error
    assert event.wire_type == wire_type
    assert event.type == "malformed"


def test_invalid_utf8_is_malformed_with_raw_bytes() -> None:
    """A text frame that is not UTF-8 keeps its raw bytes."""
    event = decode_text(b'{"type":"error","message":"\xff"}')
    assert isinstance(event, MalformedEvent)
    assert event.raw == b'{"type":"error","message":"\xff"}'
    assert "utf-8" in event.error


def test_extra_keys_are_ignored_leniently_and_refused_strictly() -> None:
    """Unknown keys pass in production decoding and fail in strict decoding."""
    raw = frame(type="error", message="m", added_later=True)
    assert decode_text(raw) == ErrorEvent(message="m")
    with pytest.raises(Exception, match="added_later"):
        decode_text(raw, strict=True)


@pytest.mark.parametrize("raw", ["nope", '{"type":"brand_new"}', '{"type":"error"}', "[]"])
def test_strict_decoding_raises_instead_of_falling_back(raw: str) -> None:
    """Strict decoding raises for what lenient decoding turns into fallback events."""
    with pytest.raises(ValueError):  # noqa: PT011 - several distinct reasons
        decode_text(raw, strict=True)


def test_binary_frames_are_tts_audio_with_a_short_repr() -> None:
    """A binary frame is a TTSAudioEvent whose repr gives the size, not the bytes."""
    event = decode_binary(b"\x01" * 5000)
    assert event.type == "tts_audio"
    assert event.data == b"\x01" * 5000
    assert repr(event) == "TTSAudioEvent(data=<5000 bytes>)"


def test_binary_decoding_builds_what_the_constructor_builds() -> None:
    """decode_binary fills the slot directly; the result must be indistinguishable."""
    fast = decode_binary(b"abc")
    made = TTSAudioEvent(data=b"abc")
    assert fast == made
    assert hash(fast) == hash(made)
    assert type(fast) is TTSAudioEvent
    # The shortcut sets exactly one slot: a field added later must not be left unset.
    assert [field.name for field in attrs.fields(TTSAudioEvent)] == ["data"]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.data = b"x"  # type: ignore[misc]


def test_stt_result_decoding_builds_what_the_constructor_builds() -> None:
    """The stt_result fast path fills the slots directly; the result must be indistinguishable."""
    fast = decode_text(
        '{"type":"stt_result","transcript":"hi","is_final":true,'
        '"is_speech_final":false,"confidence":0.25}'
    )
    made = STTResultEvent(transcript="hi", is_final=True, is_speech_final=False, confidence=0.25)
    assert fast == made
    assert hash(fast) == hash(made)
    assert repr(fast) == repr(made)
    assert type(fast) is STTResultEvent
    # The shortcut sets these four slots: a field added later must not be left unset.
    assert [field.name for field in attrs.fields(STTResultEvent)] == [
        "transcript",
        "is_final",
        "is_speech_final",
        "confidence",
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.transcript = "x"  # type: ignore[misc]


def test_every_event_type_string_is_unique_and_maps_back() -> None:
    """Each class has its own wire type; server types map back through event_class."""
    types = [cls.type for cls in ALL_CLASSES]
    assert len(set(types)) == len(types)
    for cls in ALL_CLASSES[:11]:
        assert event_class(cls.type) is cls
    assert event_class("malformed") is None
    assert event_class("nothing") is None


def test_events_are_frozen_slotted_and_keyword_only() -> None:
    """Events cannot be mutated, have no __dict__ and refuse positional arguments."""
    event = ErrorEvent(message="m")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.message = "x"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    assert isinstance(event, Event)
    with pytest.raises(TypeError):
        ErrorEvent("m")  # type: ignore[misc]


def test_pattern_matching_uses_keyword_patterns() -> None:
    """Events work with match statements through keyword patterns."""
    event = decode_text(
        frame(
            type="stt_result", transcript="hi", is_final=True, is_speech_final=False, confidence=0.5
        )
    )
    match event:
        case STTResultEvent(is_final=True, transcript=text):
            assert text == "hi"
        case _:
            pytest.fail("no match")


def test_close_event_carries_code_reason_initiator_and_error() -> None:
    """A close event describes who ended the session and how."""
    error = SaynaConnectionClosedError("gone", code=None, reason="connection lost")
    event = CloseEvent(code=None, reason="connection lost", initiator="network", error=error)
    assert event.type == "close"
    assert event.error is error
    assert CloseEvent(code=1000, initiator="client").error is None


def test_malformed_repr_is_truncated() -> None:
    """A malformed frame's repr stays short even for a huge raw frame."""
    event = decode_text("x" * 10_000)
    assert len(repr(event)) < 400


def test_events_pickle() -> None:
    """Decoded events survive pickling (they may cross process boundaries)."""
    event = decode_text(frame(type="ready", stream_id="s", livekit_url="u"))
    assert pickle.loads(pickle.dumps(event)) == event


def _server_frames() -> list[tuple[str, dict[str, object]]]:
    vectors = load_vectors("ws_outgoing")
    return [(name, vector["frame"]) for name, vector in vectors if vector.get("kind") == "text"]


@pytest.mark.parametrize(("name", "frame"), _server_frames(), ids=[n for n, _ in _server_frames()])
def test_to_dict_gives_back_the_server_message(name: str, frame: dict[str, object]) -> None:
    """event.to_dict() of every server message vector is the message as it was sent."""
    event = decode_text(json.dumps(frame))
    assert not isinstance(event, MalformedEvent), name
    assert event.to_dict() == frame
    assert json.loads(json.dumps(event.to_dict())) == frame


def test_to_dict_of_our_own_events_is_json_ready() -> None:
    """Audio becomes base64, errors {type, message}, a nested event its dict, callbacks a name."""
    audio = TTSAudioEvent(data=b"\x00\x01")
    assert audio.to_dict() == {"type": "tts_audio", "data": "AAE="}
    close = CloseEvent(code=1006, initiator="server", error=SaynaConnectionClosedError("gone"))
    failed = CallbackErrorEvent(error=ValueError("boom"), event=audio, callback=print)
    assert json.loads(json.dumps([close.to_dict(), failed.to_dict()])) == [
        {
            "type": "close",
            "code": 1006,
            "initiator": "server",
            "error": {"type": "SaynaConnectionClosedError", "message": "gone"},
        },
        {
            "type": "callback_error",
            "error": {"type": "ValueError", "message": "boom"},
            "event": {"type": "tts_audio", "data": "AAE="},
            "callback": "print",
        },
    ]
    assert MalformedEvent(raw=b"\xff", error="bad").to_dict() == {
        "type": "malformed",
        "raw": "/w==",
        "error": "bad",
    }
