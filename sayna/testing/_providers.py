"""Stand-in speech providers: credential rules, voice catalogue, synthesis.

Provider names and credential checks follow docs/protocol.rst §4.3.3 exactly; the
"synthesis" is the deterministic codec of :mod:`sayna.testing._audio`.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import attrs

from sayna.testing._audio import encode_speech, g711, mp3_silence, ogg_opus_silence, wav_header

__all__ = [
    "ALL_PROVIDERS",
    "VOICES",
    "ProviderError",
    "TTSSettings",
    "check_loading_audio",
    "chunks",
    "content_type",
    "resolve_provider",
    "synthesize",
    "tts_settings",
]

_CANONICAL = {
    "deepgram": "deepgram",
    "elevenlabs": "elevenlabs",
    "google": "google",
    "azure": "azure",
    "microsoft-azure": "azure",
    "cartesia": "cartesia",
}
ALL_PROVIDERS = frozenset(_CANONICAL.values())

_AUTH_FIELDS = {
    "deepgram": ("api_key",),
    "elevenlabs": ("api_key",),
    "cartesia": ("api_key",),
    "google": ("credentials",),
    "azure": ("api_key", "region"),
}

_MISSING_SERVER_AUTH = {
    "deepgram": "Deepgram API key not configured in server environment",
    "elevenlabs": "ElevenLabs API key not configured in server environment",
    "cartesia": "Cartesia API key not configured in server environment",
    "azure": "Azure Speech subscription key not configured in server environment",
}


class ProviderError(Exception):
    """A provider could not be used; ``str()`` is the server's message."""


def _auth_problem(name: str, canonical: str, auth: Mapping[str, Any]) -> str | None:
    allowed = _AUTH_FIELDS[canonical]
    extra = sorted(set(auth) - set(allowed))
    if extra:
        return f"Unsupported auth field(s) for provider {name}: {', '.join(extra)}"
    for field in allowed:
        value = auth.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return f"Auth field '{field}' is required for provider {name}"
        if canonical == "google":
            if not isinstance(value, (str, dict)):
                return (
                    f"Auth field 'credentials' must be a string or JSON object for provider {name}"
                )
        elif not isinstance(value, str):
            return f"Auth field '{field}' must be a string for provider {name}"
    return None


def resolve_provider(
    provider: str,
    auth: Mapping[str, Any] | None,
    server_credentials: Collection[str],
    extra_providers: Collection[str] = (),
) -> str:
    """The canonical provider name, or :class:`ProviderError` with the server's text.

    ``extra_providers`` are names a test told the server to accept as well
    (a server build with providers this one does not know): any ``auth``
    passes, and the stand-in synthesis and transcription serve them.
    """
    name = provider.lower()
    canonical = _CANONICAL.get(name)
    if canonical is None:
        if name in extra_providers:
            return name
        raise ProviderError(f"Unsupported provider: {provider}")
    if auth:
        problem = _auth_problem(name, canonical, auth)
        if problem:
            raise ProviderError(f"Invalid auth input for provider {name}: {problem}")
    elif canonical not in server_credentials and canonical in _MISSING_SERVER_AUTH:
        # Google falls back to ambient application-default credentials instead.
        raise ProviderError(
            f"Missing server auth for provider {name}: {_MISSING_SERVER_AUTH[canonical]}"
        )
    return canonical


def _voice(
    id_: str, name: str, accent: str, gender: str, language: str, sample: str = ""
) -> dict[str, str]:
    return {
        "id": id_,
        "sample": sample,
        "name": name,
        "accent": accent,
        "gender": gender,
        "language": language,
    }


VOICES: dict[str, list[dict[str, str]]] = {
    "deepgram": [
        _voice(
            "aura-asteria-en",
            "Asteria",
            "American",
            "Female",
            "English",
            "https://static.deepgram.com/examples/Aura-Asteria.wav",
        ),
        _voice("aura-orion-en", "Orion", "American", "Male", "English"),
    ],
    "elevenlabs": [
        _voice(
            "21m00Tcm4TlvDq8ikWAM",
            "Rachel",
            "american",
            "Female",
            "en",
            "https://storage.googleapis.com/eleven-public-prod/premade/voices/"
            "21m00Tcm4TlvDq8ikWAM/preview.mp3",
        ),
    ],
    "azure": [_voice("en-US-JennyNeural", "Jenny", "American", "Female", "English")],
    "google": [
        _voice("en-US-Wavenet-D", "Wavenet D", "American", "Male", "English"),
        _voice("en-US-Neural2-C", "Neural2 C", "American", "Female", "English"),
    ],
}


@attrs.frozen(kw_only=True)
class TTSSettings:
    """The effective TTS configuration, defaults applied (§4.3.2)."""

    provider: str
    model: str
    voice_id: str = "aura-asteria-en"
    audio_format: str = "linear16"
    sample_rate: int = 24000
    speaking_rate: float = 1.0
    pronunciations: tuple[tuple[str, str], ...] = ()
    has_auth: bool = False

    def prepare(self, text: str) -> str:
        """Apply the pronunciation replacements, as the server does before synthesis."""
        for word, spoken in self.pronunciations:
            if word:
                text = text.replace(word, spoken)
        return text


def tts_settings(config: Mapping[str, Any], provider: str) -> TTSSettings:
    """Effective settings of a (shape-checked) ``tts_config`` object."""

    def pick(key: str, default: Any) -> Any:
        value = config.get(key)
        return default if value is None else value

    return TTSSettings(
        provider=provider,
        model=config["model"],
        voice_id=pick("voice_id", "aura-asteria-en"),
        audio_format=pick("audio_format", "linear16"),
        sample_rate=pick("sample_rate", 24000),
        speaking_rate=float(pick("speaking_rate", 1.0)),
        pronunciations=tuple((p["word"], p["pronunciation"]) for p in pick("pronunciations", [])),
        has_auth=bool(config.get("auth")),
    )


def content_type(audio_format: str) -> str:
    """Content-Type of ``/speak`` bodies for a format (§2.3)."""
    fmt = audio_format.lower()
    if fmt in ("linear16", "pcm"):
        return "audio/pcm"
    if fmt == "wav":
        return "audio/wav"
    if fmt in ("mp3", "mpeg"):
        return "audio/mpeg"
    if fmt in ("ogg", "opus"):
        return "audio/ogg"
    if fmt == "mulaw":
        return "audio/basic"
    return "application/octet-stream"


def _family(audio_format: str) -> str:
    fmt = audio_format.lower()
    if fmt == "wav":
        return "wav"
    if fmt.startswith(("mulaw", "ulaw")):
        return "ulaw"
    if fmt.startswith("alaw"):
        return "alaw"
    if fmt.startswith(("mp3", "mpeg")):
        return "mp3"
    if fmt.startswith(("ogg", "opus")):
        return "ogg"
    return "pcm"  # linear16, pcm, pcm_16000 and anything unknown


def synthesize(text: str, settings: TTSSettings) -> bytes:
    """All audio of one utterance in the configured format (empty for blank text).

    ``linear16``/``pcm`` (and unknown formats) carry the stand-in speech, ``wav``
    wraps it, ``mulaw``/``alaw`` are its G.711 encodings; ``mp3`` and
    ``ogg``/``opus`` are valid silent streams of the same duration, because the
    stand-in has no encoder for those codecs.
    """
    spoken = settings.prepare(text)
    if not spoken.strip():
        return b""
    rate = settings.sample_rate or 24000
    pcm = encode_speech(spoken, rate)
    family = _family(settings.audio_format)
    if family == "wav":
        return wav_header(len(pcm), rate) + pcm
    if family in ("ulaw", "alaw"):
        return g711(pcm, family)
    if family == "mp3":
        return mp3_silence(len(pcm) / 2 / rate, rate)
    if family == "ogg":
        return ogg_opus_silence(len(pcm) / 2 / rate, rate)
    return pcm


def chunks(audio: bytes, settings: TTSSettings, chunk_ms: int) -> Iterator[bytes]:
    """Split an utterance into streaming chunks of about ``chunk_ms`` of audio."""
    if not audio:
        return
    rate = settings.sample_rate or 24000
    family = _family(settings.audio_format)
    if family in ("pcm", "wav"):
        size = max(2, rate * chunk_ms // 1000 * 2)
    elif family in ("ulaw", "alaw"):
        size = max(1, rate * chunk_ms // 1000)
    else:
        size = max(64, 16 * chunk_ms)  # about 128 kbit/s worth of bytes
    # A WAV header travels with the first chunk, as a provider would send it.
    end = (44 if family == "wav" else 0) + size
    yield audio[:end]
    for start in range(end, len(audio), size):
        yield audio[start : start + size]


def check_loading_audio(config: Mapping[str, Any]) -> str | None:
    """The §4.3.5 error for a ``loading_audio`` object, or None when it is usable."""
    data_text: str = config["data"]
    if len(data_text) * 3 // 4 > 1_924_096 + 3:
        return "loading_audio.data decoded audio would exceed the maximum size of 1924096 bytes"
    try:
        data = base64.b64decode(data_text, validate=True)
    except (binascii.Error, ValueError):
        return "loading_audio.data is not valid base64"
    if len(data) > 1_924_096:
        return "loading_audio.data decoded audio exceeds the maximum size of 1924096 bytes"
    fmt = config.get("format")
    if fmt is not None:
        fmt = fmt.strip().lower()
        if fmt not in ("wav", "pcm"):
            return 'loading_audio.format must be "wav" or "pcm"'
    else:
        fmt = "wav" if data[:4] == b"RIFF" and data[8:12] == b"WAVE" else "pcm"
    if fmt == "pcm":
        rate = config.get("sample_rate")
        if rate is None:
            return "sample_rate is required for raw PCM loading_audio"
        channels = config.get("channels") or 1
        if channels not in (1, 2):
            return "loading_audio supports mono or stereo only"
        if len(data) % (2 * channels):
            return "loading_audio raw PCM length is not frame-aligned"
        frames = len(data) // (2 * channels)
    else:
        if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            return "loading_audio is not a valid WAV file: missing RIFF/WAVE header"
        pos, fmt_chunk, payload = 12, None, None
        while pos + 8 <= len(data):
            chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
            body = data[pos + 8 : pos + 8 + size]
            if chunk_id == b"fmt ":
                fmt_chunk = body
            elif chunk_id == b"data":
                payload = body
            pos += 8 + size + (size & 1)
        if fmt_chunk is None or len(fmt_chunk) < 16 or payload is None:
            return "loading_audio is not a valid WAV file: missing fmt or data chunk"
        _tag, channels, rate, _, _block, bits = struct.unpack("<HHIIHH", fmt_chunk[:16])
        if bits != 16:
            return "loading_audio: only 16-bit PCM is supported; please provide 16-bit PCM audio"
        if channels not in (1, 2):
            return "loading_audio supports mono or stereo only"
        if len(payload) % (2 * channels):
            return "loading_audio WAV data is not a whole number of audio frames"
        frames = len(payload) // (2 * channels)
    if not 8000 <= rate <= 48000:
        return "loading_audio sample rate must be between 8000 Hz and 48000 Hz"
    duration_ms = frames * 1000 // rate
    if duration_ms < 250:
        return "loading_audio is too short; the minimum duration is 250 ms"
    if duration_ms > 10_000:
        return "loading_audio is too long; the maximum duration is 10000 ms"
    return None
