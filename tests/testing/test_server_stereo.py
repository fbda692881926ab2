"""The local server transcribes a stereo (``channels=2``) session, as the real one does."""

from __future__ import annotations

import array
import sys

import attrs
import pytest

from sayna import Sayna
from sayna.testing import FakeServer, encode_speech
from sayna.testing._mixdown import Mixdown
from tests.support.speech_configs import STT, TTS

STEREO = attrs.evolve(STT, channels=2)


def _interleave(left: bytes, right: bytes) -> bytes:
    """Two mono 16-bit streams of one length as one stereo stream."""
    pair = array.array("h", left), array.array("h", right)
    if sys.byteorder == "big":
        for channel in pair:
            channel.byteswap()
    out = array.array("h", bytes(2 * (len(pair[0]) + len(pair[1]))))
    out[0::2], out[1::2] = pair
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


@pytest.mark.parametrize("layout", ["both channels", "left only", "right only"])
def test_stereo_speech_is_transcribed(layout: str) -> None:
    """Speech on both channels, or on one with the other silent, gives its final transcript."""
    speech = encode_speech("stereo works", 16000)
    silence = bytes(len(speech))
    left = silence if layout == "right only" else speech
    right = silence if layout == "left only" else speech
    with (
        FakeServer() as server,
        Sayna(server.url) as client,
        client.connect(stt_config=STEREO, tts_config=TTS) as session,
    ):
        text = session.transcribe(_interleave(left, right), timeout=10)
    assert text == "stereo works"


def test_mixdown_keeps_frames_split_across_chunks() -> None:
    """Frames cut anywhere between chunks come out whole and in order."""
    left = array.array("h", [1, -300, 7, 0]).tobytes()
    right = array.array("h", [-2, 200, 0, -9]).tobytes()
    stereo = _interleave(left, right)
    mixer = Mixdown(2)
    out = b"".join(mixer.feed(stereo[i : i + 3]) for i in range(0, len(stereo), 3))
    assert array.array("h", out).tolist() == [-2, -300, 7, -9]


def test_mono_audio_passes_through_untouched() -> None:
    """With one channel the mixdown returns the chunk as it came, odd bytes included."""
    assert Mixdown(1).feed(b"\x01\x02\x03") == b"\x01\x02\x03"
