"""Events of a realtime session: one frozen class per server message, plus our own.

Server messages (docs/protocol.rst §5) become :class:`ReadyEvent`, :class:`STTResultEvent`,
:class:`MessageEvent`, :class:`ParticipantConnectedEvent`,
:class:`ParticipantDisconnectedEvent`, :class:`TrackSubscribedEvent`,
:class:`TTSPlaybackCompleteEvent`, :class:`VADEvent`, :class:`ErrorEvent`,
:class:`SIPTransferErrorEvent`; binary frames become :class:`TTSAudioEvent`. A type
the client does not know yet becomes :class:`UnknownEvent` (raw payload kept) and a
frame that does not decode becomes :class:`MalformedEvent` (raw frame and reason
kept): the server may grow, the client must neither break nor drop anything.

The session adds :class:`CloseEvent` (always the last event),
:class:`CallbackErrorEvent` and :class:`EventsDiscardedEvent`.

Every event has ``type``, the wire type string (a name of our own for events that
have no wire type). Decoding goes through the converter pair of
:mod:`sayna._converter`: lenient in production, strict in tests over vectors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import attrs
import cattrs

from sayna import _converter
from sayna._errors import SaynaConnectionClosedError
from sayna._jsondata import WireData, json_data
from sayna._wirejson import DECODER, TOO_DEEP, loads, nested_too_deep

__all__ = [
    "CallbackErrorEvent",
    "CloseEvent",
    "DataPacket",
    "ErrorEvent",
    "Event",
    "EventsDiscardedEvent",
    "MalformedEvent",
    "MessageEvent",
    "ParticipantConnectedEvent",
    "ParticipantDisconnectedEvent",
    "ReadyEvent",
    "ReconnectedEvent",
    "ReconnectingEvent",
    "SIPTransferErrorEvent",
    "STTResultEvent",
    "SessionParticipant",
    "SpeechInterruptedEvent",
    "SubscribedTrack",
    "TTSAudioEvent",
    "TTSPlaybackCompleteEvent",
    "TrackSubscribedEvent",
    "UnknownEvent",
    "VADEvent",
    "decode_binary",
    "decode_text",
    "event_class",
]


def _bytes_repr(value: bytes | None) -> str:
    # Audio chunks are kilobytes long; a repr that prints them is useless in logs.
    return "None" if value is None else f"<{len(value)} bytes>"


def _raw_repr(value: str | bytes) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class Event(WireData):
    """Base class of every session event; ``type`` is the wire type string."""

    __slots__ = ()
    type: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data: ``type`` and the wire's field names.

        For a server message this is the message as it came (binary data as
        base64); an unknown message is its payload unchanged.
        """
        if isinstance(self, UnknownEvent):
            return json_data(self.payload)  # type: ignore[no-any-return]
        return {"type": self.type, **super().to_dict()}


# --- server messages ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReadyEvent(Event):
    """The session is configured (§5.1); LiveKit fields only in LiveKit sessions."""

    type: ClassVar[str] = "ready"
    stream_id: str
    livekit_room_name: str | None = None
    livekit_url: str | None = None
    sayna_participant_identity: str | None = None
    sayna_participant_name: str | None = None


@attrs.frozen(kw_only=True)
class STTResultEvent(Event):
    """A transcript: interim, final segment, or end of the user's turn (§5.2).

    A speech-final result synthesised by the server has an empty transcript: build
    the turn's text from the preceding ``is_final`` results.
    """

    type: ClassVar[str] = "stt_result"
    transcript: str
    is_final: bool
    is_speech_final: bool
    confidence: float


@attrs.frozen(kw_only=True)
class DataPacket(WireData):
    """A LiveKit data packet: ``message`` when it was UTF-8 text, else ``data``."""

    identity: str
    topic: str
    room: str
    timestamp: int
    message: str | None = None
    data: bytes | None = attrs.field(default=None, repr=_bytes_repr)


@attrs.frozen(kw_only=True)
class MessageEvent(Event):
    """A data packet received from the LiveKit room (§5.3)."""

    type: ClassVar[str] = "message"
    message: DataPacket


@attrs.frozen(kw_only=True)
class SessionParticipant(WireData):
    """A remote participant of the session's room; ``timestamp`` in Unix ms."""

    identity: str
    room: str
    timestamp: int
    name: str | None = None


@attrs.frozen(kw_only=True)
class ParticipantConnectedEvent(Event):
    """A remote participant joined the room (§5.4)."""

    type: ClassVar[str] = "participant_connected"
    participant: SessionParticipant


@attrs.frozen(kw_only=True)
class ParticipantDisconnectedEvent(Event):
    """A remote participant left; the server closes the session right after (§5.4)."""

    type: ClassVar[str] = "participant_disconnected"
    participant: SessionParticipant


@attrs.frozen(kw_only=True)
class SubscribedTrack(WireData):
    """A participant's track the agent subscribed to; ``track_kind`` audio/video."""

    identity: str
    track_kind: str
    track_sid: str
    room: str
    timestamp: int
    name: str | None = None


@attrs.frozen(kw_only=True)
class TrackSubscribedEvent(Event):
    """The agent subscribed to a participant's track (§5.5)."""

    type: ClassVar[str] = "track_subscribed"
    track: SubscribedTrack


@attrs.frozen(kw_only=True)
class TTSPlaybackCompleteEvent(Event):
    """The TTS queue drained (§5.6); not one per ``speak``. ``timestamp`` in Unix ms."""

    type: ClassVar[str] = "tts_playback_complete"
    timestamp: int


@attrs.frozen(kw_only=True)
class VADEvent(Event):
    """Voice activity (§5.7): speech_start, silence_detected, speech_resumed, turn_end."""

    type: ClassVar[str] = "vad_event"
    event: str
    timestamp_ms: int
    silence_duration_ms: int | None = None


@attrs.frozen(kw_only=True)
class ErrorEvent(Event):
    """An error reported by the server (§5.8); the session stays open."""

    type: ClassVar[str] = "error"
    message: str


@attrs.frozen(kw_only=True)
class SIPTransferErrorEvent(Event):
    """A ``sip_transfer`` failed (§5.9)."""

    type: ClassVar[str] = "sip_transfer_error"
    message: str


@attrs.frozen(kw_only=True)
class TTSAudioEvent(Event):
    """A binary frame: a chunk of synthesized speech, to be concatenated (§5.10)."""

    type: ClassVar[str] = "tts_audio"
    data: bytes = attrs.field(repr=_bytes_repr)


# --- frames the client cannot map to a class --------------------------------------


@attrs.frozen(kw_only=True)
class UnknownEvent(Event):
    """A well-formed message of a type this client does not know; ``payload`` is raw."""

    payload: dict[str, Any]

    @property
    def type(self) -> str:  # type: ignore[override]
        """The frame's own ``type``."""
        return str(self.payload.get("type", ""))


@attrs.frozen(kw_only=True)
class MalformedEvent(Event):
    """A frame that could not be decoded: ``raw`` as received, ``error`` says why.

    ``wire_type`` is the ``type`` the frame claimed, when it got that far.
    """

    type: ClassVar[str] = "malformed"
    raw: str | bytes = attrs.field(repr=_raw_repr)
    error: str
    wire_type: str | None = None


# --- events of the session itself ------------------------------------------------


CloseInitiator = Literal["client", "server", "network"]


@attrs.frozen(kw_only=True)
class CloseEvent(Event):
    """The session ended; always the last event.

    ``initiator`` is who ended it: ``"client"`` (``close()``), ``"server"`` (a Close
    frame; ``code`` 1005 when it carried no status) or ``"network"`` (dropped TCP
    connection, protocol violation, unanswered ping; ``code`` is ``None``).
    ``error`` is set when the ending was abnormal; it is what ``events()``,
    ``wait_for()``, ``next_event()`` and sends raise afterwards.
    """

    type: ClassVar[str] = "close"
    code: int | None
    reason: str = ""
    initiator: CloseInitiator
    error: SaynaConnectionClosedError | None = None


@attrs.frozen(kw_only=True)
class CallbackErrorEvent(Event):
    """A callback raised ``error`` while handling ``event``."""

    type: ClassVar[str] = "callback_error"
    error: BaseException
    event: Event
    callback: Callable[..., Any]


@attrs.frozen(kw_only=True)
class EventsDiscardedEvent(Event):
    """``count`` events arrived while no iterator was consuming and were discarded.

    Only the newest ``max_buffered_events`` are kept for iterators opened later;
    this marker is what such an iterator receives first instead of the lost ones.
    """

    type: ClassVar[str] = "events_discarded"
    count: int


@attrs.frozen
class ReconnectingEvent(Event):
    """The connection was lost; reconnect attempt ``attempt`` starts in ``delay`` seconds.

    Only in sessions opened with ``reconnect=``. ``reason`` says how the
    connection ended (for attempt 1) or why the previous attempt failed.
    """

    type: ClassVar[str] = "reconnecting"
    attempt: int
    delay: float
    reason: str


@attrs.frozen
class ReconnectedEvent(Event):
    """The session is ready again on a new connection, after ``attempt`` attempts.

    ``lost_speech``: texts given to ``speak()`` whose ``tts_playback_complete``
    had not arrived before the drop (speak them again if they matter).
    ``dropped_audio_bytes``: audio given to ``on_audio_input()`` while
    reconnecting, dropped rather than sent late.
    """

    type: ClassVar[str] = "reconnected"
    attempt: int
    stream_id: str
    lost_speech: tuple[str, ...]
    dropped_audio_bytes: int


@attrs.frozen(kw_only=True)
class SpeechInterruptedEvent(Event):
    """The caller spoke over our speech; the session sent ``clear`` (barge-in).

    Only in sessions opened with ``barge_in=``. ``heard``: the transcript that
    interrupted (empty for a VAD event). ``cancelled_text``: the utterances
    that were still playing or queued. ``discarded_bytes``: their TTS audio
    that arrived after the ``clear`` and was dropped before any consumer saw it.
    """

    type: ClassVar[str] = "speech_interrupted"
    heard: str
    cancelled_text: tuple[str, ...]
    discarded_bytes: int


# --- decoding -------------------------------------------------------------------

_SERVER_EVENTS: tuple[type[Event], ...] = (
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
)

# One dispatch dict: wire type -> class. Structure hooks are looked up once, on
# first use, so that every hook registered with the converter is in place.
_BY_TYPE: dict[str, type[Event]] = {cls.type: cls for cls in _SERVER_EVENTS}
_BY_TYPE[TTSAudioEvent.type] = TTSAudioEvent
_hooks: dict[str, tuple[type[Event], Callable[[Any, Any], Any]]] = {}


def event_class(wire_type: str) -> type[Event] | None:
    """The class for a wire type (``"stt_result"`` -> :class:`STTResultEvent`)."""
    return _BY_TYPE.get(wire_type)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        # A description must never be what ends the session.
        with contextlib.suppress(Exception):
            return "; ".join(cattrs.transform_error(exc))
    return str(exc) or type(exc).__name__


def _lenient_hook(wire_type: str) -> tuple[type[Event], Callable[[Any, Any], Any]] | None:
    found = _hooks.get(wire_type)
    if found is None:
        cls = _BY_TYPE.get(wire_type)
        if cls is None or cls is TTSAudioEvent:
            return None
        found = (cls, _converter.converter.get_structure_hook(cls))
        _hooks[wire_type] = found
    return found


# json.loads costs ~0.8 µs per call around its C scanner (argument checks, two
# whitespace regex matches); a frame is one JSON value with nothing around it,
# so the scanner alone parses it. Anything else (surrounding whitespace, a BOM,
# trailing data, invalid JSON) goes through json.loads for its exact result or
# error. Both are configured by sayna._wirejson (NaN and Infinity refused).
# json's scanner recurses once per nesting level, and how deep it goes before
# RecursionError depends on the Python version (sayna._wirejson). A frame
# nested past our own bound is malformed input like any other, not a failure
# of the connection, and is refused before the scanner sees it: the scanner's
# C recursion needs the reader thread's stack (a 1,100-deep frame crashed the
# process with a 128 KiB stack and did not with 256 KiB, 3.11, x86-64).
_scan_once: Callable[[str, int], tuple[Any, int]] = DECODER.scan_once  # type: ignore[attr-defined]
_loads = loads


def _parse(text: str) -> Any:
    try:
        value, end = _scan_once(text, 0)
    except Exception:
        return _loads(text)
    if end != len(text):
        return _loads(text)
    return value


# A TTS download is thousands of binary frames a second, and attrs' frozen
# __init__ (a setattr guard per field) was a fifth of the reader's time per
# frame. TTSAudioEvent has one field and no validator or converter, so the
# slot is filled directly; a test keeps the result equal to the constructor's.
_new_object = object.__new__
_set_tts_data = vars(TTSAudioEvent)["data"].__set__
# The same for stt_result, the bulk of a transcription stream (four fields,
# none with a validator or converter).
_set_transcript = vars(STTResultEvent)["transcript"].__set__
_set_is_final = vars(STTResultEvent)["is_final"].__set__
_set_is_speech_final = vars(STTResultEvent)["is_speech_final"].__set__
_set_confidence = vars(STTResultEvent)["confidence"].__set__


def decode_text(raw: str | bytes, *, strict: bool = False) -> Event:
    """Turn one text frame into an event; the JSON is parsed exactly once.

    Lenient (the default) never raises: a frame that does not decode becomes a
    :class:`MalformedEvent`, an unknown type an :class:`UnknownEvent`, and unknown
    keys are ignored. ``strict`` raises ``ValueError`` for all three and for
    unknown keys instead.
    """
    text: str | bytes = raw
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if nested_too_deep(text):
            raise ValueError(TOO_DEEP)
        data = _parse(text)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        if strict:
            raise
        # Keep the frame as text when it was text, as bytes when it was not UTF-8.
        return MalformedEvent(raw=text, error=f"not a JSON text frame: {exc}")
    if not isinstance(data, dict):
        error = f"expected a JSON object, got {type(data).__name__}"
    elif not isinstance(data.get("type"), str):
        error = "the frame has no string 'type' field"
    else:
        wire_type: str = data["type"]
        if strict:
            cls = _BY_TYPE.get(wire_type)
            if cls is None or cls is TTSAudioEvent:
                raise ValueError(f"unknown message type {wire_type!r}")
            del data["type"]
            try:
                return _converter.from_wire(data, cls, strict=True)
            except Exception as exc:
                raise ValueError(f"{wire_type}: {_problem(exc)}") from exc
        if wire_type == "stt_result":
            # The stream's bulk: built straight from its four fields when each
            # has its exact JSON type, which is what the converter's hooks
            # check; anything else (a missing field, an int confidence, a
            # wrong type) takes the converter's path below for its result.
            transcript = data.get("transcript")
            is_final = data.get("is_final")
            speech_final = data.get("is_speech_final")
            confidence = data.get("confidence")
            if (
                transcript.__class__ is str
                and is_final.__class__ is bool
                and speech_final.__class__ is bool
                and confidence.__class__ is float
            ):
                # The slots filled directly, as decode_binary does (0.9 -> 0.45 us).
                result: STTResultEvent = _new_object(STTResultEvent)
                _set_transcript(result, transcript)
                _set_is_final(result, is_final)
                _set_is_speech_final(result, speech_final)
                _set_confidence(result, confidence)
                return result
        found = _lenient_hook(wire_type)
        if found is None:
            return UnknownEvent(payload=data)
        cls, hook = found
        del data["type"]
        try:
            event: Event = hook(data, cls)
        except Exception as exc:
            return MalformedEvent(raw=text, error=_problem(exc), wire_type=wire_type)
        return event
    if strict:
        raise ValueError(error)
    return MalformedEvent(raw=text, error=error)


def decode_binary(data: bytes) -> TTSAudioEvent:
    """A binary frame is always TTS audio (§5.10)."""
    event: TTSAudioEvent = _new_object(TTSAudioEvent)
    _set_tts_data(event, data)
    return event
