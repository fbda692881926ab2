"""How long ``transcribe`` takes for a 60-second recording on the local server.

    python tests/benchmarks/transcribe_file.py              # unpaced (the default)
    python tests/benchmarks/transcribe_file.py realtime     # paced like a speaker (~60 s)

Prints the audio's length, the wall time and whether the transcript is exact.
Standalone (not part of run.py): it measures the pacing, not the transport.
"""

from __future__ import annotations

import sys
import time

from sayna import Sayna, STTConfig, TTSConfig
from sayna.testing import FakeServer, encode_speech

WORDS = "the quick brown fox jumps over the lazy dog and keeps running "
TEXT = (WORDS * 40)[:1150].strip()  # about 60 s of stand-in speech


def main(modes: list[str]) -> None:
    """Transcribe the recording once per mode ("fast" or "realtime")."""
    pcm = encode_speech(TEXT, 16000)
    stt = STTConfig(provider="deepgram", model="nova-3", sample_rate=16000)
    tts = TTSConfig(provider="deepgram", model="")
    with (
        FakeServer() as server,
        Sayna(server.url) as client,
        client.connect(stt_config=stt, tts_config=tts) as session,
    ):
        for mode in modes:
            started = time.monotonic()
            text = session.transcribe(pcm, realtime=mode == "realtime", timeout=30)
            elapsed = time.monotonic() - started
            print(
                f"{mode}: {len(pcm) / 32000:.1f} s of audio in {elapsed:.2f} s,"
                f" exact transcript: {text == TEXT}"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["fast"])
