"""How big is the cassette of a one-minute voice session? Prints a small table.

The session (through a RecordingProxy in front of a FakeServer): config, then
turns of the agent speaking and the caller answering with the same audio,
until one minute of audio has crossed the socket (about 30 s each way), at 16
and 24 kHz. Sizes for the plain and the gzip-compressed cassette. Run:
``python tests/benchmarks/cassette_size.py`` (about 10 s).
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from sayna import Sayna, STTConfig, TTSConfig
from sayna.testing import FakeServer, RecordingProxy

SENTENCE = "I would like two tickets to Lisbon on Friday morning, please."


def record(path: pathlib.Path, rate: int) -> float:
    """Record about a minute of audio (both ways) at ``rate`` Hz; returns its seconds."""
    stt = STTConfig(provider="deepgram", model="nova-3", sample_rate=rate)
    tts = TTSConfig(provider="deepgram", model="aura-2", sample_rate=rate)
    seconds = 0.0
    with (
        FakeServer(tts_speedup=0) as server,
        RecordingProxy(server.url, path) as proxy,
        Sayna(proxy.url) as client,
        client.connect(stt_config=stt, tts_config=tts, timeout=10) as session,
    ):
        while seconds < 60:
            audio = session.say(SENTENCE, timeout=10)
            session.transcribe(audio.data, timeout=10, speed=100)
            seconds += 2 * len(audio.data) / 2 / rate
    return seconds


def main() -> int:
    print("rate     audio   cassette   .gz      lines")
    with tempfile.TemporaryDirectory() as folder:
        for rate in (16000, 24000):
            plain = pathlib.Path(folder, f"{rate}.jsonl")
            packed = pathlib.Path(folder, f"{rate}.jsonl.gz")
            seconds = record(plain, rate)
            record(packed, rate)
            lines = len(plain.read_text("utf-8").splitlines())
            print(
                f"{rate // 1000} kHz  {seconds:5.1f} s  "
                f"{plain.stat().st_size / 1e6:6.2f} MB  {packed.stat().st_size / 1e6:6.2f} MB"
                f"  {lines}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
