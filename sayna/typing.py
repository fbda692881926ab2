"""Type aliases that appear in sayna's public signatures, for annotating your own code.

::

    from sayna.typing import AudioSource

    def upload(session: sayna.Session, audio: AudioSource) -> str:
        return session.transcribe(audio)

Each alias is the very object the signatures use; the aliases do not change
anything at runtime.
"""

from sayna._conveniences import AudioSource, ProgressCallback
from sayna._events import CloseInitiator
from sayna._realtime.dispatch import EventKey, EventMatch
from sayna._wav import WavSource
from sayna._webhooks import HeadersLike

__all__ = [
    "AudioSource",
    "CloseInitiator",
    "EventKey",
    "EventMatch",
    "HeadersLike",
    "ProgressCallback",
    "WavSource",
]
