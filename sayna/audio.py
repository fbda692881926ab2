"""Local audio: format conversion, and the microphone and speaker.

The converters work on 16-bit little-endian PCM (interleaved when there are
several channels) and G.711 bytes:

- :func:`ulaw_encode`, :func:`ulaw_decode`, :func:`alaw_encode`,
  :func:`alaw_decode`, :func:`to_mono` and :func:`to_channels` need only the
  standard library;
- :func:`resample` and :class:`Resampler` need libsoxr (``pip install
  'sayna[resample]'``, which ``sayna[audio]`` includes).

:class:`Microphone` and :class:`Speaker` (and :class:`Playback`, which
:meth:`Session.play_on <sayna.Session.play_on>` returns) use PortAudio
through ``sounddevice``: ``pip install 'sayna[audio]'``.

Importing this module needs no extra; what is missing raises
:class:`~sayna.SaynaAudioError` when it is used. See docs/audio.rst.
"""

from __future__ import annotations

from sayna._devices import Microphone, Speaker
from sayna._g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from sayna._playback import Playback
from sayna._resample import Resampler, resample, to_channels, to_mono

__all__ = [
    "Microphone",
    "Playback",
    "Resampler",
    "Speaker",
    "alaw_decode",
    "alaw_encode",
    "resample",
    "to_channels",
    "to_mono",
    "ulaw_decode",
    "ulaw_encode",
]
