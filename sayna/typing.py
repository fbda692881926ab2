"""Type aliases that appear in sayna's public signatures, for annotating your own code.

::

    from sayna.typing import AudioSource

    def upload(session: sayna.Session, audio: AudioSource) -> str:
        return session.transcribe(audio)

Each alias is the very object the signatures use; nothing changes at runtime.
"""

from sayna import _conveniences, _events, _wav, _webhooks
from sayna._realtime import dispatch as _dispatch

__all__ = [
    "AudioSource",
    "CloseInitiator",
    "EventKey",
    "EventMatch",
    "HeadersLike",
    "ProgressCallback",
    "WavSource",
]

#: What :meth:`~sayna.Session.transcribe` and :meth:`~sayna.Session.stream_audio`
#: accept: a WAV path, a :class:`~sayna.WavAudio`, an :class:`~sayna.AudioResult`,
#: raw PCM bytes, or an iterable of PCM chunks.
AudioSource = _conveniences.AudioSource

#: ``progress(bytes_sent, total_bytes)``; ``total_bytes`` is ``None`` for an
#: iterable of chunks.
ProgressCallback = _conveniences.ProgressCallback

#: What :meth:`~sayna.Session.on` and :meth:`~sayna.Session.off` take: an event
#: class, an event's wire type name, or ``None`` for every event.
EventKey = _dispatch.EventKey

#: What :meth:`~sayna.Session.wait_for` takes: an event class, a type name, a
#: tuple of those, or a predicate over events.
EventMatch = _dispatch.EventMatch

#: What :func:`~sayna.read_wav` reads: a path, bytes, or a binary file object.
WavSource = _wav.WavSource

#: Request headers as :class:`~sayna.WebhookReceiver` accepts them: a mapping or
#: an iterable of ``(name, value)`` pairs.
HeadersLike = _webhooks.HeadersLike

#: Who ended a connection (``initiator`` of :class:`~sayna.CloseEvent`):
#: ``"client"``, ``"server"`` or ``"network"``.
CloseInitiator = _events.CloseInitiator
