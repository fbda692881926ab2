"""The provider configurations the session tests connect with (16 kHz linear16 mono)."""

from __future__ import annotations

from sayna import STTConfig, TTSConfig

STT = STTConfig(
    provider="deepgram",
    language="en-US",
    sample_rate=16000,
    channels=1,
    punctuation=True,
    encoding="linear16",
    model="nova-3",
)
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en")
# TTS audio that STT takes back as it is: linear16 at the STT's 16 kHz.
TTS_16K = TTSConfig(provider="deepgram", model="", sample_rate=16000)
