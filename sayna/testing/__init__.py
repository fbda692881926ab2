"""Tools for testing code that uses ``sayna``, with no real server or key.

:class:`FakeServer` is a real local Sayna server (REST and WebSocket on one
loopback port) that follows the wire protocol of Sayna 0.1.15: the same routes,
checks, statuses and error texts, the same session state machine and frame
ordering. The ``sayna_server`` pytest fixture yields a started one; ``python -m
sayna.testing`` runs one in the foreground. It needs the ``testing`` extra
(``pip install 'sayna[testing]'``: h11 and wsproto); the other helpers do not.

The speech providers are deterministic stand-ins. TTS audio (``linear16``,
``pcm``, ``wav``) *encodes* its text, and the stand-in STT recognises exactly
that text when the audio comes back at the session's sample rate, in any
chunking (in stereo sessions, on either channel or both); damaged audio is
never recognised. :func:`encode_speech` makes such
audio directly. Other audio can be answered with scripted transcripts.

For code that receives Sayna's signed SIP webhooks, :func:`sign_webhook`,
:func:`sip_webhook_payload` and :func:`make_webhook_request` build the requests
Sayna would POST (these need no extra either).

Not modelled: real codecs (``mp3``/``ogg``/``opus`` output and recordings are
valid but silent), real media in LiveKit rooms (use the session's
``inject_room_audio``/``deliver_data`` and ``published_audio``/``published_data``),
the external auth-service mode (only its "unavailable" answer), and internal
server failures other than the switches :class:`FakeServer` offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sayna._signing import sign_webhook
from sayna.testing._audio import decode_speech, encode_speech, speech_duration
from sayna.testing._webhooks import make_webhook_request, sip_webhook_payload

if TYPE_CHECKING:
    from sayna.testing._behaviour import Behaviour
    from sayna.testing._caller import Caller, CallerSpeech
    from sayna.testing._cassette import CassetteError
    from sayna.testing._cassette_handle import SaynaCassette
    from sayna.testing._proxy import RecordingProxy
    from sayna.testing._records import PublishedData, ReceivedFrame, RecordedRequest
    from sayna.testing._replay import CassetteMismatch
    from sayna.testing._server import FakeServer
    from sayna.testing._state import Participant, Room, Track
    from sayna.testing._ws import FakeSession

__all__ = [
    "Behaviour",
    "Caller",
    "CallerSpeech",
    "CassetteError",
    "CassetteMismatch",
    "FakeServer",
    "FakeSession",
    "Participant",
    "PublishedData",
    "ReceivedFrame",
    "RecordedRequest",
    "RecordingProxy",
    "Room",
    "SaynaCassette",
    "Track",
    "decode_speech",
    "encode_speech",
    "make_webhook_request",
    "sign_webhook",
    "sip_webhook_payload",
    "speech_duration",
]

# Names that need h11/wsproto are imported on first use, so that importing this
# package (and the pytest plugin) works without the ``testing`` extra.
_LAZY = {
    "Behaviour": "sayna.testing._behaviour",
    "Caller": "sayna.testing._caller",
    "CallerSpeech": "sayna.testing._caller",
    "CassetteError": "sayna.testing._cassette",
    "CassetteMismatch": "sayna.testing._replay",
    "RecordingProxy": "sayna.testing._proxy",
    "SaynaCassette": "sayna.testing._cassette_handle",
    "FakeServer": "sayna.testing._server",
    "FakeSession": "sayna.testing._ws",
    "PublishedData": "sayna.testing._records",
    "ReceivedFrame": "sayna.testing._records",
    "RecordedRequest": "sayna.testing._records",
    "Participant": "sayna.testing._state",
    "Room": "sayna.testing._state",
    "Track": "sayna.testing._state",
}


#: The top-level modules the ``testing`` extra installs (setup.cfg).
_TESTING_EXTRA = frozenset({"h11", "wsproto"})


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # Name what is really missing: only h11 and wsproto come with the extra.
        missing = (exc.name or "").split(".", 1)[0]
        if missing in _TESTING_EXTRA:
            hint = "the 'testing' extra: pip install 'sayna[testing]'"
        else:
            hint = f"{missing or 'a module'}, which is not installed"
        raise ImportError(f"sayna.testing.{name} needs {hint} ({exc})", name=exc.name) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
