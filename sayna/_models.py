"""Configuration objects sent to the server and the REST answers it sends back.

Frozen, keyword-only attrs classes whose field names are the wire names. They
know nothing about JSON: ``sayna._converter`` (un)structures them. Values that
can never be valid are refused at construction with
:class:`~sayna.SaynaValidationError`; what only the server can judge (a model
name, a voice id, which credentials a provider wants) is left to the server.
Secrets (provider credentials, loading-audio bytes, SIP passwords, LiveKit
tokens) never appear in a repr.
"""

from __future__ import annotations

import io
import json
import os
import wave
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from sayna._errors import SaynaValidationError
from sayna._jsondata import WireData
from sayna._validation import (
    int_at_least,
    is_finite_number,
    require_bool,
    require_str,
    require_text,
)

__all__ = [
    "ApiKeyAuth",
    "AzureAuth",
    "GoogleAuth",
    "HealthResponse",
    "LiveKitConfig",
    "LiveKitParticipantInfo",
    "LiveKitRoomDetails",
    "LiveKitRoomSummary",
    "LiveKitRoomsResponse",
    "LiveKitTokenResponse",
    "LoadingAudioConfig",
    "MuteParticipantResponse",
    "Pronunciation",
    "ProviderAuth",
    "RemoveParticipantResponse",
    "SIPCallConfig",
    "SIPCallResponse",
    "SIPTransferResponse",
    "STTConfig",
    "SipHook",
    "SipHooksResponse",
    "TTSConfig",
    "TurnDetectConfigUpdate",
    "VADConfigUpdate",
    "VoiceDescriptor",
]

_REDACTED = "'***'"


# --- extra: fields of the server we have no name for yet ------------------------


def _extra(value: Any) -> dict[str, Any]:
    """A JSON snapshot of ``extra`` (later changes to the caller's dict do not leak in)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SaynaValidationError(
            f"extra must be a mapping of field names to JSON values, not {type(value).__name__}",
            field="extra",
        )
    snapshot: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise SaynaValidationError(
                f"extra keys must be field names, not {key!r}", field="extra"
            )
        try:
            # Round-tripped so that the frozen model holds its own copy, and
            # anything json cannot write (sets, NaN, objects) fails here, not
            # in the middle of a send.
            snapshot[key] = json.loads(json.dumps(item, allow_nan=False))
        except (TypeError, ValueError, RecursionError) as exc:
            raise SaynaValidationError(
                f"extra[{key!r}] is not JSON-serializable ({type(item).__name__})",
                field=f"extra.{key}",
            ) from exc
    return snapshot


def _no_clash(instance: Any, _: attrs.Attribute[Any], value: dict[str, Any]) -> None:
    known = set(attrs.fields_dict(type(instance))) - {"extra"}
    clash = sorted(known.intersection(value))
    if clash:
        raise SaynaValidationError(
            f"extra cannot set {', '.join(clash)}: {type(instance).__name__} has "
            f"{'that field' if len(clash) == 1 else 'those fields'}; pass {clash[0]}= instead",
            field=f"extra.{clash[0]}",
        )


def _extra_repr(value: object) -> str:
    # Keys only: a provider option may be a secret.
    return f"<keys {sorted(value)}>" if isinstance(value, dict) and value else "{}"


def extra_field() -> Any:
    """``extra``: wire fields this version has no name for, merged into the model's JSON.

    Excluded from the hash (a dict is not hashable); equality still compares it.
    """
    return attrs.field(
        factory=dict, converter=_extra, validator=_no_clash, repr=_extra_repr, hash=False
    )


def _secret_repr(value: object) -> str:
    # Shows whether a secret is set without showing any of it.
    return "None" if value is None else _REDACTED


# --- attrs validators ---------------------------------------------------------
# attrs passes (instance, attribute, value); each raises SaynaValidationError
# naming the field, as the client does for bad call-site input.


def _text(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_text(value, attribute.name)


def _str(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_str(value, attribute.name)


def _optional_text(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        require_text(value, attribute.name)


def _optional_str(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        require_str(value, attribute.name)


_POSITIVE_INT = int_at_least(1)
_NON_NEGATIVE_INT = int_at_least(0)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _channels(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not _is_int(value) or value not in (1, 2):
        raise SaynaValidationError(
            f"{attribute.name} must be 1 (mono) or 2 (stereo), got {value!r}",
            field=attribute.name,
        )


def _bool(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_bool(value, attribute.name)


def _positive_number(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not is_finite_number(value) or value <= 0:
        raise SaynaValidationError(
            f"{attribute.name} must be a positive number, got {value!r}", field=attribute.name
        )


def _unit_interval(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not is_finite_number(value) or not 0.0 <= value <= 1.0:
        raise SaynaValidationError(
            f"{attribute.name} must be a number between 0.0 and 1.0, got {value!r}",
            field=attribute.name,
        )


def _number(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not is_finite_number(value):
        raise SaynaValidationError(
            f"{attribute.name} must be a finite number, got {value!r}", field=attribute.name
        )


# --- provider credentials -----------------------------------------------------


@attrs.frozen(kw_only=True)
class ApiKeyAuth(WireData):
    """Request-scoped credentials for Deepgram, ElevenLabs or Cartesia.

    Goes in ``STTConfig.auth`` / ``TTSConfig.auth``; without ``auth`` the
    server uses its own key for the provider.
    """

    api_key: str = attrs.field(validator=_text, repr=_secret_repr)


@attrs.frozen(kw_only=True)
class AzureAuth(WireData):
    """Request-scoped Azure Speech credentials: both key and region are required."""

    api_key: str = attrs.field(validator=_text, repr=_secret_repr)
    region: str = attrs.field(validator=_text)


def _google_credentials(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, Mapping):
        if not value:
            raise SaynaValidationError("credentials must not be empty", field="credentials")
        return
    if not isinstance(value, str) or not value.strip():
        raise SaynaValidationError(
            "credentials must be service-account JSON (a dict or JSON text) or a path",
            field="credentials",
        )


def _dict_or_str(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


@attrs.frozen(kw_only=True)
class GoogleAuth(WireData):
    """Request-scoped Google Cloud credentials.

    ``credentials`` is the service-account JSON as a dict (or as JSON text),
    or a path that exists **on the server**; strings are sent unchanged. To
    send a local key file, pass ``json.load(open(path))``.
    """

    credentials: str | dict[str, Any] = attrs.field(
        converter=_dict_or_str, validator=_google_credentials, repr=_secret_repr
    )


ProviderAuth = ApiKeyAuth | AzureAuth | GoogleAuth
"""The credential models; which one fits depends on the config's ``provider``."""

AuthInput = ProviderAuth | dict[str, Any]


def _auth(value: Any) -> AuthInput | None:
    """Keep a credential model, copy a plain wire-shaped dict, refuse the rest."""
    if value is None or isinstance(value, (ApiKeyAuth, AzureAuth, GoogleAuth)):
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise SaynaValidationError("auth keys must be strings", field="auth")
        return dict(value)
    raise SaynaValidationError(
        "auth must be ApiKeyAuth, AzureAuth, GoogleAuth, a dict or None, "
        f"not {type(value).__name__}",
        field="auth",
    )


# --- STT / TTS ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class STTConfig(WireData):
    """Speech-to-text settings for a realtime session.

    The server needs every field but ``auth``; all but ``provider`` and
    ``model`` default to 16 kHz mono 16-bit PCM in US English with
    punctuation, and are always sent. The audio you stream must match
    ``sample_rate``, ``channels`` and ``encoding`` exactly (the server does
    not resample). ``model`` may be ``""`` for providers that ignore it.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    provider: str = attrs.field(validator=_text)
    model: str = attrs.field(validator=_str)
    language: str = attrs.field(default="en-US", validator=_text)
    sample_rate: int = attrs.field(default=16000, validator=_POSITIVE_INT)
    channels: int = attrs.field(default=1, validator=_channels)
    punctuation: bool = attrs.field(default=True, validator=_bool)
    encoding: str = attrs.field(default="linear16", validator=_text)
    auth: AuthInput | None = attrs.field(default=None, converter=_auth, repr=_secret_repr)
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class Pronunciation(WireData):
    """Say ``word`` as ``pronunciation`` (case-sensitive whole-word replacement)."""

    word: str = attrs.field(validator=_text)
    pronunciation: str = attrs.field(validator=_str)


def _pronunciations(value: Any) -> tuple[Pronunciation, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise SaynaValidationError(
            "pronunciations must be a list of Pronunciation", field="pronunciations"
        )
    items: list[Pronunciation] = []
    for item in value:
        if isinstance(item, Mapping):
            # Missing keys become None and are refused by the model's validators.
            word: Any = item.get("word")
            pronunciation: Any = item.get("pronunciation")
            item = Pronunciation(word=word, pronunciation=pronunciation)
        if not isinstance(item, Pronunciation):
            raise SaynaValidationError(
                f"pronunciations items must be Pronunciation, not {type(item).__name__}",
                field="pronunciations",
            )
        items.append(item)
    return tuple(items)


@attrs.frozen(kw_only=True)
class TTSConfig(WireData):
    """Text-to-speech settings, for a realtime session and for ``speak_rest``.

    ``provider`` and ``model`` are required (``model`` may be ``""``); every
    other field left at ``None`` is omitted and the server's default applies:
    voice ``aura-asteria-en`` (a Deepgram voice: set ``voice_id`` for any
    other provider), rate 1.0, ``linear16`` at 24 kHz, timeouts 30 s / 60 s.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    provider: str = attrs.field(validator=_text)
    model: str = attrs.field(validator=_str)
    voice_id: str | None = attrs.field(default=None, validator=_optional_text)
    speaking_rate: float | None = attrs.field(default=None, validator=_positive_number)
    audio_format: str | None = attrs.field(default=None, validator=_optional_text)
    sample_rate: int | None = attrs.field(default=None, validator=_POSITIVE_INT)
    connection_timeout: int | None = attrs.field(default=None, validator=_POSITIVE_INT)
    request_timeout: int | None = attrs.field(default=None, validator=_POSITIVE_INT)
    pronunciations: tuple[Pronunciation, ...] = attrs.field(default=(), converter=_pronunciations)
    auth: AuthInput | None = attrs.field(default=None, converter=_auth, repr=_secret_repr)
    extra: Mapping[str, Any] = extra_field()


# --- realtime session pieces --------------------------------------------------


def _str_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise SaynaValidationError(
            "listen_participants must be a list of identities", field="listen_participants"
        )
    items = tuple(value)
    for item in items:
        require_text(item, "listen_participants")
    return items


@attrs.frozen(kw_only=True)
class LiveKitConfig(WireData):
    """Join a LiveKit room with the session's agent.

    ``listen_participants`` restricts whose audio and data the session hears
    (empty: everyone). Unset options take the server's defaults: no
    recording, agent identity ``sayna-ai`` named ``Sayna AI``.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    room_name: str = attrs.field(validator=_text)
    enable_recording: bool = attrs.field(default=False, validator=_bool)
    sayna_participant_identity: str | None = attrs.field(default=None, validator=_optional_text)
    sayna_participant_name: str | None = attrs.field(default=None, validator=_optional_text)
    listen_participants: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    extra: Mapping[str, Any] = extra_field()


def _audio_format(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value.strip().lower() not in ("wav", "pcm"):
        raise SaynaValidationError(
            f'format must be "wav" or "pcm", got {value!r}', field=attribute.name
        )


def _audio_bytes(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bytes):
        raise SaynaValidationError(
            f"data must be bytes, not {type(value).__name__}", field=attribute.name
        )
    if not value:
        raise SaynaValidationError("data must not be empty", field=attribute.name)


def _to_bytes(value: Any) -> Any:
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value


def _data_repr(value: object) -> str:
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else _REDACTED


# The server's limits for the loading clip (docs/protocol.rst §4.3.5).
_LOADING_MIN_RATE, _LOADING_MAX_RATE = 8000, 48000
_LOADING_MIN_MS, _LOADING_MAX_MS = 250, 10_000


@attrs.frozen(kw_only=True)
class LoadingAudioConfig(WireData):
    """A short clip the server loops into the LiveKit room on ``loading_start``.

    ``data`` is a whole WAV file or raw 16-bit little-endian PCM (``bytes``;
    base64 on the wire). Prefer :meth:`from_wav_file` / :meth:`from_wav_bytes`,
    which check the server's limits (16-bit, mono or stereo, 8-48 kHz,
    0.25-10 s) before anything is sent. ``volume`` is clamped to 0-1 by the server.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    data: bytes = attrs.field(converter=_to_bytes, validator=_audio_bytes, repr=_data_repr)
    format: str | None = attrs.field(default=None, validator=_audio_format)
    sample_rate: int | None = attrs.field(default=None, validator=_POSITIVE_INT)
    channels: int | None = attrs.field(default=None, validator=_channels)
    volume: float | None = attrs.field(default=None, validator=_number)
    extra: Mapping[str, Any] = extra_field()

    @classmethod
    def from_wav_bytes(cls, data: bytes, *, volume: float | None = None) -> LoadingAudioConfig:
        """Wrap a complete WAV file, refusing what the server would refuse."""
        data = _to_bytes(data)
        if not isinstance(data, bytes):
            raise SaynaValidationError("data must be bytes", field="data")
        try:
            with wave.open(io.BytesIO(data), "rb") as reader:
                width = reader.getsampwidth()
                channels = reader.getnchannels()
                rate = reader.getframerate()
                frames = reader.getnframes()
        except (wave.Error, EOFError) as exc:
            raise SaynaValidationError(f"not a valid WAV file: {exc}", field="data") from exc
        if width != 2:
            raise SaynaValidationError("loading audio must be 16-bit PCM", field="data")
        if channels not in (1, 2):
            raise SaynaValidationError("loading audio must be mono or stereo", field="data")
        if not _LOADING_MIN_RATE <= rate <= _LOADING_MAX_RATE:
            raise SaynaValidationError(
                f"loading audio sample rate must be 8000-48000 Hz, got {rate}", field="data"
            )
        duration_ms = frames * 1000 / rate
        if not _LOADING_MIN_MS <= duration_ms <= _LOADING_MAX_MS:
            raise SaynaValidationError(
                f"loading audio must last 250-10000 ms, got {duration_ms:.0f} ms", field="data"
            )
        return cls(data=data, format="wav", volume=volume)

    @classmethod
    def from_wav_file(
        cls, path: str | os.PathLike[str], *, volume: float | None = None
    ) -> LoadingAudioConfig:
        """Read a WAV file from disk; see :meth:`from_wav_bytes`."""
        with open(path, "rb") as handle:
            return cls.from_wav_bytes(handle.read(), volume=volume)


@attrs.frozen(kw_only=True)
class VADConfigUpdate(WireData):
    """Voice-activity settings for ``update_config`` (accepted, ignored by the server).

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    silence_duration_ms: int | None = attrs.field(default=None, validator=_NON_NEGATIVE_INT)
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class TurnDetectConfigUpdate(WireData):
    """Turn-detection threshold for ``update_config``: a probability in 0.0-1.0.

    Only servers built with turn detection act on it, and the change applies
    to every session on that server.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    threshold: float | None = attrs.field(default=None, validator=_unit_interval)
    extra: Mapping[str, Any] = extra_field()


# --- SIP ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SipHook(WireData):
    """Route inbound calls for SIP ``host`` to webhook ``url`` for tenant ``auth_id``.

    ``auth_id`` is always sent; it may be ``""`` only on servers without auth.
    Blank hosts and URLs are refused by ``set_sip_hooks``, not here, so that
    whatever the server already stores can still be read back.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    host: str = attrs.field(validator=_str)
    url: str = attrs.field(validator=_str)
    auth_id: str = attrs.field(validator=_str)
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class SIPCallConfig(WireData):
    """Per-call overrides of the server's outbound SIP trunk settings.

    ``outbound_address`` is ``host`` or ``host:port``; unset fields use the
    server's configuration.

    ``extra``: wire fields this version has no name for (see :doc:`/new-server-features`).
    """

    outbound_address: str | None = attrs.field(default=None, validator=_optional_text)
    auth_username: str | None = attrs.field(default=None, validator=_optional_str)
    auth_password: str | None = attrs.field(
        default=None, validator=_optional_str, repr=_secret_repr
    )
    extra: Mapping[str, Any] = extra_field()


# --- REST answers ---------------------------------------------------------------
# Every field the server always sends is required here, so strict decoding of a
# recorded answer fails on a missing key as well as on an unknown one.


@attrs.frozen(kw_only=True)
class HealthResponse(WireData):
    """``GET /``: ``status`` is ``"OK"`` when the server is up."""

    status: str


@attrs.frozen(kw_only=True)
class VoiceDescriptor(WireData):
    """One voice of ``GET /voices``; put ``id`` in ``TTSConfig.voice_id``.

    ``sample`` is a preview URL or ``""``; unknown accents/genders read ``"Unknown"``.
    """

    id: str
    sample: str
    name: str
    accent: str
    gender: str
    language: str


@attrs.frozen(kw_only=True)
class LiveKitTokenResponse(WireData):
    """A LiveKit access token and the URL to use it with (the token is hidden in reprs)."""

    token: str = attrs.field(repr=_secret_repr)
    room_name: str
    participant_identity: str
    livekit_url: str


@attrs.frozen(kw_only=True)
class LiveKitRoomSummary(WireData):
    """One room of ``GET /livekit/rooms``; ``creation_time`` is Unix seconds."""

    name: str
    num_participants: int
    creation_time: int


@attrs.frozen(kw_only=True)
class LiveKitRoomsResponse(WireData):
    """The rooms visible to the caller's tenant (all rooms when auth is off)."""

    rooms: tuple[LiveKitRoomSummary, ...]


@attrs.frozen(kw_only=True)
class LiveKitParticipantInfo(WireData):
    """A participant of :class:`LiveKitRoomDetails`.

    ``state`` is ``JOINING``/``JOINED``/``ACTIVE``/``DISCONNECTED``/``UNKNOWN``;
    ``kind`` is ``STANDARD``/``INGRESS``/``EGRESS``/``SIP``/``AGENT``/``UNKNOWN``
    (kept as strings: LiveKit may add values). SIP callers carry ``sip.*`` attributes.
    """

    sid: str
    identity: str
    name: str
    state: str
    kind: str
    joined_at: int
    metadata: str
    attributes: dict[str, str]
    is_publisher: bool


@attrs.frozen(kw_only=True)
class LiveKitRoomDetails(WireData):
    """``GET /livekit/rooms/{name}``; ``max_participants`` 0 means unlimited.

    ``metadata`` is opaque JSON text: do not base access decisions on it.
    """

    sid: str
    name: str
    num_participants: int
    max_participants: int
    creation_time: int
    metadata: str
    active_recording: bool
    participants: tuple[LiveKitParticipantInfo, ...]


@attrs.frozen(kw_only=True)
class RemoveParticipantResponse(WireData):
    """The participant was removed (``status`` is ``"removed"``); its token stays valid."""

    status: str
    room_name: str
    participant_identity: str


@attrs.frozen(kw_only=True)
class MuteParticipantResponse(WireData):
    """``muted`` is the track state LiveKit reports after the change."""

    room_name: str
    participant_identity: str
    track_sid: str
    muted: bool


@attrs.frozen(kw_only=True)
class SipHooksResponse(WireData):
    """The server's whole effective hook table, in no defined order."""

    hooks: tuple[SipHook, ...]


@attrs.frozen(kw_only=True)
class SIPTransferResponse(WireData):
    """``status`` is ``"completed"`` (confirmed) or ``"initiated"`` (not yet confirmed).

    ``transfer_to`` is the normalised ``tel:`` URI.
    """

    status: str
    room_name: str
    participant_identity: str
    transfer_to: str


@attrs.frozen(kw_only=True)
class SIPCallResponse(WireData):
    """The call was placed (``status`` ``"initiated"``), not necessarily answered."""

    status: str
    room_name: str
    participant_identity: str
    participant_id: str
    sip_call_id: str
